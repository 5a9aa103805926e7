"""Consent receipts: required Kantara / 27560 content, and JWS that verifies from the JWKS alone."""
import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, OKPKey

from consent.receipts import (
    DPV_27560_RECEIPT, KANTARA_VERSION, ReceiptFacts, ReceiptInvalid, canonical_json, dpv_receipt,
    human_summary, kantara_receipt, sign_receipt, verify_receipt,
)
from consent.scopes import UnknownScope, get_scope
from vault.keys.signing import SigningKeyring


GRANTED = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)


def make_facts(**over):
    base = dict(
        receipt_id="0b7a6c1e-4f0e-4a59-9a53-5d1c3f1f6c11",
        issued_at=GRANTED,
        event="grant",
        language="en",
        jurisdiction="EU",
        subject_id="sub-7f3a",
        issuer={"name": "VRM Vault", "url": "https://vault.example"},
        controller={"name": "Acme Shoes", "url": "https://acme.example", "contact": "privacy@acme.example",
                    "phone": "+49 30 1234"},
        purpose="Deliver your orders and tell you when they ship",
        purpose_category="dpv:DeliveryOfGoods",
        lawful_basis="dpv:Consent",
        scope_ids=("profile.name", "address.home", "address.shipping"),
        fields=("given_name", "family_name", "address_home", "address_shipping"),
        status="active",
        granted_at=GRANTED,
        expires_at=GRANTED + timedelta(days=90),
        withdrawn_at=None,
        policy_url="https://acme.example/privacy",
        withdrawal_url="https://vault.example/consents/c-1/withdraw",
    )
    base.update(over)
    return ReceiptFacts(**base)


# -- Kantara ------------------------------------------------------------------------------------

KANTARA_TOP = {"version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID",
               "language", "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat"}
KANTARA_CONTROLLER = {"piiController", "contact", "address", "email", "phone", "piiControllerUrl"}
KANTARA_PURPOSE = {"purpose", "purposeCategory", "consentType", "piiCategory", "primaryPurpose", "termination",
                   "thirdPartyDisclosure"}


def test_kantara_receipt_has_every_required_field():
    facts = make_facts()
    r = kantara_receipt(facts)
    assert KANTARA_TOP <= set(r)
    assert r["version"] == KANTARA_VERSION == "KI-CR-v1.1.0"
    assert r["consentTimestamp"] == int(GRANTED.timestamp()) and isinstance(r["consentTimestamp"], int)
    assert r["consentReceiptID"] == facts.receipt_id
    assert r["piiPrincipalId"] == "sub-7f3a"
    assert r["policyUrl"] == "https://acme.example/privacy"
    (controller,) = r["piiControllers"]
    assert KANTARA_CONTROLLER <= set(controller)
    assert controller["piiController"] == "Acme Shoes"
    assert controller["email"] == "privacy@acme.example"
    assert controller["piiControllerUrl"] == "https://acme.example"
    (service,) = r["services"]
    assert service["service"]
    (purpose,) = service["purposes"]
    assert KANTARA_PURPOSE <= set(purpose)
    assert purpose["consentType"] == "EXPLICIT"
    assert isinstance(purpose["purposeCategory"], list) and "dpv:DeliveryOfGoods" in purpose["purposeCategory"]
    assert isinstance(purpose["piiCategory"], list) and purpose["piiCategory"]
    assert purpose["primaryPurpose"] is True
    assert purpose["thirdPartyDisclosure"] is False and "thirdPartyName" not in purpose
    assert "2025-05-30" in purpose["termination"] and facts.withdrawal_url in purpose["termination"]
    assert "publicKey" not in r
    json.dumps(r)


def test_kantara_sensitive_follows_high_scopes_actually_shared():
    shared = kantara_receipt(make_facts())
    assert shared["sensitive"] is True
    assert shared["spiCat"] == [get_scope("address.home").label("en")]
    narrowed = kantara_receipt(make_facts(event="narrow", fields=("given_name", "address_shipping")))
    assert narrowed["sensitive"] is False and narrowed["spiCat"] == []


def test_kantara_termination_for_revoked_and_open_ended():
    revoked_at = GRANTED + timedelta(days=3)
    r = kantara_receipt(make_facts(event="revoke", status="revoked", withdrawn_at=revoked_at, issued_at=revoked_at))
    assert "2025-03-04" in r["services"][0]["purposes"][0]["termination"]
    assert r["consentTimestamp"] == int(revoked_at.timestamp())
    open_ended = kantara_receipt(make_facts(expires_at=None))
    assert "withdraw" in open_ended["services"][0]["purposes"][0]["termination"]


def test_kantara_third_parties_and_public_key():
    facts = make_facts(controller={"name": "Acme", "url": "https://acme.example", "contact": "Jane Roe",
                                   "email": "dpo@acme.example", "third_parties": ["ParcelCo"]})
    r = kantara_receipt(facts, public_key='{"kty":"OKP"}')
    purpose = r["services"][0]["purposes"][0]
    assert purpose["thirdPartyDisclosure"] is True and purpose["thirdPartyName"] == "ParcelCo"
    assert r["piiControllers"][0]["contact"] == "Jane Roe"
    assert r["piiControllers"][0]["email"] == "dpo@acme.example"
    assert r["publicKey"] == '{"kty":"OKP"}'


def test_kantara_free_text_follows_receipt_language():
    r = kantara_receipt(make_facts(language="ar"))
    assert r["language"] == "ar"
    assert any("\u0600" <= ch <= "\u06ff" for ch in r["collectionMethod"])
    assert r["spiCat"] == [get_scope("address.home").label("ar")]


# -- ISO/IEC TS 27560 / DPV ----------------------------------------------------------------------

RECORD_KEYS = {"@id", "@type", "dct:identifier", "dct:conformsTo", "dpv:hasDataSubject", "dpv:hasDataController",
               "dpv:hasJurisdiction", "dpv:hasLegalBasis", "dpv:hasNotice", "dpv:hasProcess",
               "dpv:hasConsentStatus", "dct:language"}
PROCESS_KEYS = {"dpv:hasPurpose", "dpv:hasPersonalData", "dpv:hasRecipient", "dpv:hasStorageCondition",
                "dpv:hasConsentControl", "dpv:hasJurisdiction"}


def test_dpv_receipt_has_27560_fields():
    facts = make_facts()
    r = dpv_receipt(facts)
    assert r["@context"]["dpv"] == "https://w3id.org/dpv#"
    assert r["@context"]["dct"] == "http://purl.org/dc/terms/"
    assert r["@type"] == "dpv:ConsentReceipt"
    assert r["dct:conformsTo"] == DPV_27560_RECEIPT == "https://w3id.org/dpv/schema/dpv-27560#receipt"
    assert r["dct:identifier"] == facts.receipt_id and r["@id"].endswith(facts.receipt_id)
    record = r["dpv:hasRecordOfActivity"]
    assert RECORD_KEYS <= set(record)
    assert record["@type"] == "dpv:ConsentRecord"
    assert record["@id"] != r["@id"]
    assert record["dpv:hasDataSubject"]["dct:identifier"] == "sub-7f3a"
    assert record["dpv:hasNotice"]["@id"] == facts.policy_url
    assert record["dpv:hasDataController"]["@id"] == "https://vault.example"
    assert record["dpv:hasJurisdiction"] == "loc:EU"
    assert record["dpv:hasLegalBasis"] == "dpv:Consent"
    process = record["dpv:hasProcess"]
    assert PROCESS_KEYS <= set(process)
    assert process["dpv:hasPurpose"]["skos:broader"] == "dpv:DeliveryOfGoods"
    assert process["dpv:hasPurpose"]["dct:description"] == facts.purpose
    assert [d["dct:identifier"] for d in process["dpv:hasPersonalData"]] == list(facts.fields)
    assert all(d["skos:broader"].startswith("pd:") for d in process["dpv:hasPersonalData"])
    assert process["dpv:hasRecipient"]["@type"] == "dpv:Recipient"
    assert process["dpv:hasRecipient"]["dpv:hasName"] == "Acme Shoes"
    assert process["dpv:hasConsentControl"] == {"@type": "dpv:WithdrawConsent",
                                                "dpv:isExercisedAt": facts.withdrawal_url}
    (storage,) = process["dpv:hasStorageCondition"]
    assert storage["dpv:hasDuration"]["rdf:value"] == "2025-05-30T09:30:00Z"
    status = record["dpv:hasConsentStatus"]
    assert status["@type"] == "dpv:ConsentGiven"
    assert status["dct:valid"] == "2025-03-01T09:30:00Z/2025-05-30T09:30:00Z"
    json.dumps(r)


@pytest.mark.parametrize("event, status, extra, dpv_status", [
    ("renew", "active", {}, "dpv:ConsentGiven"),
    ("revoke", "revoked", {"withdrawn_at": GRANTED + timedelta(days=1)}, "dpv:ConsentWithdrawn"),
    ("expire", "expired", {}, "dpv:ConsentExpired"),
])
def test_dpv_consent_status_per_event(event, status, extra, dpv_status):
    record = dpv_receipt(make_facts(event=event, status=status, **extra))["dpv:hasRecordOfActivity"]
    assert record["dpv:hasConsentStatus"]["@type"] == dpv_status


def test_dpv_open_ended_validity_and_record_id():
    facts = make_facts(expires_at=None, consent_id="c-1")
    record = dpv_receipt(facts)["dpv:hasRecordOfActivity"]
    assert record["dpv:hasConsentStatus"]["dct:valid"].endswith("/..")
    assert record["dpv:hasConsentStatus"]["dpv:hasDuration"]["@type"] == "dpv:UntilEventDuration"
    assert record["dct:identifier"] == "c-1"
    assert make_facts().record_id != make_facts().receipt_id


# -- facts validation ----------------------------------------------------------------------------

@pytest.mark.parametrize("over, error", [
    ({"scope_ids": ("profile.name", "profile.secret")}, UnknownScope),
    ({"fields": ("given_name", "notes")}, ValueError),
    ({"fields": ("emails",)}, ValueError),
    ({"granted_at": datetime(2025, 3, 1, 9, 30)}, ValueError),
    ({"event": "revoke"}, ValueError),
    ({"status": "revoked"}, ValueError),
    ({"language": "fr"}, ValueError),
    ({"purpose_category": "dpv:MadeUp"}, ValueError),
    ({"lawful_basis": "dpv:Vibes"}, ValueError),
    ({"receipt_id": "not-a-uuid"}, ValueError),
    ({"expires_at": GRANTED - timedelta(days=1)}, ValueError),
    ({"controller": {"name": "Acme", "url": "https://acme.example"}}, ValueError),
])
def test_facts_reject_inconsistent_input(over, error):
    with pytest.raises(error):
        make_facts(**over)


def test_facts_normalise_to_utc_and_new_fills_id_and_time():
    plus2 = timezone(timedelta(hours=2))
    facts = make_facts(granted_at=datetime(2025, 3, 1, 11, 30, tzinfo=plus2))
    assert facts.granted_at == GRANTED and facts.granted_at.tzinfo == timezone.utc
    base = {k: getattr(facts, k) for k in facts.__dataclass_fields__ if k not in ("receipt_id", "issued_at")}
    fresh = ReceiptFacts.new(**base)
    assert fresh.receipt_id != facts.receipt_id and fresh.issued_at.tzinfo == timezone.utc


# -- signing ------------------------------------------------------------------------------------

def _segments(token):
    header, payload, sig = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), base64.urlsafe_b64decode(pad(payload)), sig


@pytest.fixture
def ring():
    return SigningKeyring.generate()


@pytest.mark.parametrize("build, typ", [(kantara_receipt, "kantara-cr+jws"), (dpv_receipt, "dpv-27560+jws")])
def test_signed_receipt_verifies_with_joserfc_from_published_jwks_only(ring, build, typ):
    payload = build(make_facts(language="ar", purpose="توصيل طلباتك"))
    token = sign_receipt(payload, ring)
    header, raw, _ = _segments(token)
    assert header == {"alg": "Ed25519", "kid": ring.active.kid, "typ": typ}
    assert raw == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert "توصيل طلباتك".encode("utf-8") in raw  # raw UTF-8, not \u escapes

    published = json.loads(json.dumps(ring.public_jwks()))  # as a verifier would fetch it
    assert all("d" not in k for k in published["keys"])
    obj = jws.deserialize_compact(token, KeySet.import_key_set(published), algorithms=["Ed25519"])
    assert json.loads(obj.payload) == payload
    assert verify_receipt(token, published) == payload


def test_canonical_json_is_stable():
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode("utf-8")
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_tampered_payload_fails(ring):
    token = sign_receipt(kantara_receipt(make_facts()), ring)
    header_b64, payload_b64, sig = token.split(".")
    _, raw, _ = _segments(token)
    forged = json.loads(raw)
    forged["piiPrincipalId"] = "someone-else"
    forged_b64 = base64.urlsafe_b64encode(canonical_json(forged)).rstrip(b"=").decode()
    with pytest.raises(ReceiptInvalid):
        verify_receipt(f"{header_b64}.{forged_b64}.{sig}", ring.public_jwks())
    with pytest.raises(ReceiptInvalid):
        verify_receipt(f"{header_b64}.{payload_b64}.{sig[:-4]}AAAA", ring.public_jwks())


def test_receipt_from_another_key_fails(ring):
    other = SigningKeyring.generate()
    payload = kantara_receipt(make_facts())
    with pytest.raises(ReceiptInvalid):  # unknown kid
        verify_receipt(sign_receipt(payload, other), ring.public_jwks())
    # an impostor reusing our kid: the kid resolves, the signature does not
    impostor = jws.serialize_compact({"alg": "Ed25519", "kid": ring.active.kid, "typ": "kantara-cr+jws"},
                                     canonical_json(payload), OKPKey.import_key(other.active.private_key),
                                     algorithms=["Ed25519"])
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(impostor, KeySet.import_key_set(ring.public_jwks()), algorithms=["Ed25519"])
    with pytest.raises(ReceiptInvalid):
        verify_receipt(impostor, ring.public_jwks())


def test_garbage_token_and_jwks_fail(ring):
    with pytest.raises(ReceiptInvalid):
        verify_receipt("not.a.jws", ring.public_jwks())
    token = sign_receipt(kantara_receipt(make_facts()), ring)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(token, {"keys": []})
    with pytest.raises(ReceiptInvalid):
        verify_receipt(token, {"nope": 1})


def test_old_receipt_still_verifies_after_rotation(tmp_path):
    path = tmp_path / "signing.json"
    ring = SigningKeyring.load_or_create(path)
    old_token = sign_receipt(dpv_receipt(make_facts()), ring)
    old_kid = ring.active.kid
    ring.rotate()
    new_token = sign_receipt(dpv_receipt(make_facts()), ring)
    assert _segments(new_token)[0]["kid"] == ring.active.kid != old_kid
    jwks = SigningKeyring.load_or_create(path).public_jwks()  # what a restarted vault publishes
    assert verify_receipt(old_token, jwks)["dct:identifier"] == make_facts().receipt_id
    assert verify_receipt(new_token, jwks)
    only_new = {"keys": [k for k in jwks["keys"] if k["kid"] != old_kid]}
    with pytest.raises(ReceiptInvalid):
        verify_receipt(old_token, only_new)


def test_sign_needs_a_known_receipt_shape(ring):
    with pytest.raises(ValueError):
        sign_receipt({"hello": "world"}, ring)
    token = sign_receipt({"hello": "world"}, ring, typ="application/example+jws")
    assert verify_receipt(token, ring.public_jwks()) == {"hello": "world"}


# -- human summary ------------------------------------------------------------------------------

def test_human_summary_english():
    s = human_summary(make_facts(), "en")
    assert s["dir"] == "ltr" and s["lang"] == "en"
    assert "Acme Shoes" in s["title"] and "Acme Shoes" in s["headline"]
    assert s["vendor"] == "Acme Shoes" and s["purpose"] == make_facts().purpose
    assert [x["label"] for x in s["scopes"]] == [get_scope(i).label("en") for i in make_facts().scope_ids]
    assert s["purpose_category"] == "Delivering goods"
    assert s["granted_at"]["iso"] == "2025-03-01T09:30:00Z" and "March 2025" in s["granted_at"]["text"]
    assert s["withdrawn_at"] is None and s["sensitive_notice"]
    assert s["status_label"] == "Active"


def test_human_summary_arabic():
    facts = make_facts(expires_at=None)
    s = human_summary(facts, "ar")
    assert s["dir"] == "rtl"
    assert [x["label"] for x in s["scopes"]] == [get_scope(i).label("ar") for i in facts.scope_ids]
    assert [x["explanation"] for x in s["scopes"]] == [get_scope(i).explain("ar") for i in facts.scope_ids]
    assert "مارس" in s["granted_at"]["text"]
    assert s["expires_at"] is None and s["expires_text"] == "إلى أن تسحبها"
    assert s["lawful_basis"] == "الموافقة" and s["status_label"] == "سارية"
    assert "Acme Shoes" in s["headline"] and s["headline"] != human_summary(facts, "en")["headline"]


def test_human_summary_unknown_language_falls_back_to_english():
    assert human_summary(make_facts(), "fr") == human_summary(make_facts(), "en")
