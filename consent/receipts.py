"""Consent receipts: the customer's signed proof of what they shared, with whom, and until when.

Why two formats: a Kantara Consent Receipt v1.1 is the flat JSON most consent tooling reads;
an ISO/IEC TS 27560 receipt in W3C DPV JSON-LD is what regulators and DPV-aware tools can
reason over. Both are built from one :class:`ReceiptFacts`, so they cannot tell different
stories. Every lifecycle event (grant, narrow, widen, renew, revoke, expire) gets a new receipt.

Why signed JWS: a receipt is evidence the customer keeps outside the vault. The signature
(Ed25519, compact JWS) is checkable with nothing but the vault's published JWKS, and because
retired public keys stay in that JWKS, old receipts still verify after a key rotation.

Roles, as the brief defines them: the *issuer* is the vault service (it holds the consent
record, so it is the DPV data controller of the record); the *controller* dict is the vendor
that receives the data (the Kantara ``piiControllers`` entry, and the DPV recipient).
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from vault.keys.signing import JWS_ALG, SigningKeyring

from .scopes import DPV_PURPOSES, LANGUAGES, LAWFUL_BASES, NEVER_SHARED, get_scope

EVENTS = ("grant", "narrow", "widen", "renew", "revoke", "expire")
STATUSES = ("active", "revoked", "expired")
_STATUS_AFTER = {"revoke": "revoked", "expire": "expired"}  # every other event leaves consent active

KANTARA_VERSION = "KI-CR-v1.1.0"
DPV_27560_RECEIPT = "https://w3id.org/dpv/schema/dpv-27560#receipt"
DPV_27560_RECORD = "https://w3id.org/dpv/schema/dpv-27560#record"
TYP_KANTARA = "kantara-cr+jws"
TYP_DPV = "dpv-27560+jws"

DPV_CONTEXT = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "loc": "https://w3id.org/dpv/loc#",
    "dct": "http://purl.org/dc/terms/",
    "schema": "https://schema.org/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}
_DPV_STATUS = {"active": "dpv:ConsentGiven", "revoked": "dpv:ConsentWithdrawn", "expired": "dpv:ConsentExpired"}

# Vault field -> DPV personal-data category (https://w3id.org/dpv/pd).
_PD_CATEGORY = {
    "given_name": "pd:Name", "family_name": "pd:Name", "display_name": "pd:Name",
    "emails": "pd:EmailAddress", "phones": "pd:TelephoneNumber",
    "address_home": "pd:PhysicalAddress", "address_shipping": "pd:PhysicalAddress",
    "address_billing": "pd:PhysicalAddress", "birth_date": "pd:BirthDate", "language": "pd:Language",
    "channels": "pd:Preference", "preferred_channel": "pd:Preference", "quiet_hours": "pd:Preference",
    "max_contacts_per_week": "pd:Preference", "interests": "pd:Interest",
    "sizes": "pd:PhysicalCharacteristic", "purchases": "pd:Purchase", "purchase_context": "pd:Purchase",
    "cases": "pd:Communication", "intents": "pd:Intention", "offers": "pd:Communication",
}
# Vault field -> Kantara CR v1.1 PII category (only the categories the spec's example spells out).
_KANTARA_PII = {
    "given_name": "1 - Biographical", "family_name": "1 - Biographical", "display_name": "1 - Biographical",
    "birth_date": "1 - Biographical", "language": "1 - Biographical", "sizes": "1 - Biographical",
    "interests": "1 - Biographical",
    "emails": "2 - Contact", "phones": "2 - Contact", "address_home": "2 - Contact",
    "address_shipping": "2 - Contact", "address_billing": "2 - Contact", "channels": "2 - Contact",
    "preferred_channel": "2 - Contact", "quiet_hours": "2 - Contact", "max_contacts_per_week": "2 - Contact",
    "cases": "4 - Communications/Social", "intents": "4 - Communications/Social",
    "offers": "4 - Communications/Social",
    "purchases": "7 - Financial", "purchase_context": "7 - Financial",
}
# DPV purpose -> Kantara CR v1.1 purpose category.
_KANTARA_PURPOSE = {
    "dpv:Personalisation": "5 - Personalize Experience",
    "dpv:ServicePersonalisation": "5 - Personalize Experience",
    "dpv:ProvidePersonalisedRecommendations": "5 - Personalize Experience",
    "dpv:Marketing": "6 - Marketing",
    "dpv:DirectMarketing": "6 - Marketing",
}
_KANTARA_PURPOSE_DEFAULT = "2 - Contracted Service"


class ReceiptInvalid(ValueError):
    """A receipt JWS that does not verify against the given JWKS (or is not a receipt)."""


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(timezone.utc)


def _frozen(mapping: Mapping, name: str, required: tuple[str, ...]) -> Mapping:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{name} must be a mapping")
    missing = [k for k in required if not str(mapping.get(k) or "").strip()]
    if missing:
        raise ValueError(f"{name} needs {', '.join(missing)}")
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ReceiptFacts:
    """Everything a receipt states, checked once here so both formats can trust it.

    ``fields`` are the vault fields actually shared after narrowing; they must come from the
    listed scopes. ``consent_id`` (optional) is the grant's stable id: it becomes the 27560
    record identifier, linking the successive receipts of one consent.
    """

    receipt_id: str
    issued_at: datetime
    event: str
    language: str
    jurisdiction: str
    subject_id: str
    issuer: Mapping[str, str] = field(hash=False)
    controller: Mapping[str, str] = field(hash=False)
    purpose: str
    purpose_category: str
    lawful_basis: str
    scope_ids: tuple[str, ...]
    fields: tuple[str, ...]
    status: str
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    policy_url: str
    withdrawal_url: str
    consent_id: str | None = None
    #: The customer's proffered terms as the vendor accepted them (consent.terms.agreement), if any.
    terms: Mapping[str, object] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        put("receipt_id", str(uuid.UUID(str(self.receipt_id))))
        for name in ("issued_at", "granted_at", "expires_at", "withdrawn_at"):
            put(name, _utc(getattr(self, name), name))
        if self.issued_at is None or self.granted_at is None:
            raise ValueError("issued_at and granted_at are required")
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {EVENTS}")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}")
        if self.status != _STATUS_AFTER.get(self.event, "active"):
            raise ValueError(f"a {self.event!r} receipt must have status {_STATUS_AFTER.get(self.event, 'active')!r}")
        if (self.status == "revoked") != (self.withdrawn_at is not None):
            raise ValueError("withdrawn_at is set exactly when the consent is revoked")
        if self.status == "expired" and self.expires_at is None:
            raise ValueError("an expired consent needs expires_at")
        if self.expires_at is not None and self.expires_at <= self.granted_at:
            raise ValueError("expires_at must be after granted_at")
        for name in ("jurisdiction", "subject_id", "purpose", "policy_url", "withdrawal_url"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} is required")
        put("issuer", _frozen(self.issuer, "issuer", ("name", "url")))
        put("controller", _frozen(self.controller, "controller", ("name", "url", "contact")))
        if self.purpose_category not in DPV_PURPOSES:
            raise ValueError(f"purpose_category {self.purpose_category!r} is not in DPV_PURPOSES")
        if self.lawful_basis not in LAWFUL_BASES:
            raise ValueError(f"lawful_basis {self.lawful_basis!r} is not in LAWFUL_BASES")
        scopes = [get_scope(s) for s in dict.fromkeys(self.scope_ids)]  # UnknownScope on a typo
        if not scopes:
            raise ValueError("a receipt names at least one scope")
        put("scope_ids", tuple(s.id for s in scopes))
        shareable = {f for s in scopes for f in s.fields}
        shared = tuple(dict.fromkeys(self.fields))
        stray = set(shared) - shareable
        if stray or set(shared) & NEVER_SHARED:
            raise ValueError(f"fields not covered by the receipt's scopes: {sorted(stray | (set(shared) & NEVER_SHARED))}")
        put("fields", shared)
        if self.terms is not None:
            put("terms", _frozen(self.terms, "terms", ("terms_id", "terms_digest", "proffered_at",
                                                        "accepted_at", "agreed_at", "agreement_hash")))

    @classmethod
    def new(cls, **facts) -> "ReceiptFacts":
        """Build facts with a fresh uuid4 ``receipt_id`` and ``issued_at`` = now (UTC)."""
        facts.setdefault("receipt_id", str(uuid.uuid4()))
        facts.setdefault("issued_at", datetime.now(timezone.utc))
        return cls(**facts)

    @property
    def record_id(self) -> str:
        """27560 record id: the consent's own id, else one derived from (not equal to) the receipt id."""
        return self.consent_id or str(uuid.uuid5(uuid.UUID(self.receipt_id), "consent-record"))

    def sensitive_scopes(self) -> list[str]:
        """High-sensitivity scopes whose data is still shared after narrowing."""
        shared = set(self.fields)
        return [s for s in self.scope_ids
                if get_scope(s).sensitivity == "high" and shared & set(get_scope(s).fields)]


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- Kantara Consent Receipt v1.1 ---------------------------------------------------------------

_COLLECTION = {
    "en": {"grant": "Granted by the data subject in the {issuer} consent dashboard",
           "narrow": "Narrowed by the data subject in the {issuer} consent dashboard",
           "widen": "Widened by the data subject in the {issuer} consent dashboard",
           "renew": "Renewed by the data subject in the {issuer} consent dashboard",
           "revoke": "Withdrawn by the data subject in the {issuer} consent dashboard",
           "expire": "Ended automatically by {issuer} when its validity period ran out"},
    "ar": {"grant": "منح صاحب البيانات موافقته عبر لوحة إدارة الموافقات في {issuer}",
           "narrow": "قلّص صاحب البيانات نطاق موافقته عبر لوحة إدارة الموافقات في {issuer}",
           "widen": "وسّع صاحب البيانات نطاق موافقته عبر لوحة إدارة الموافقات في {issuer}",
           "renew": "جدّد صاحب البيانات موافقته عبر لوحة إدارة الموافقات في {issuer}",
           "revoke": "سحب صاحب البيانات موافقته عبر لوحة إدارة الموافقات في {issuer}",
           "expire": "أنهى {issuer} الموافقة تلقائيًا عند انقضاء مدة صلاحيتها"},
}
_TERMINATION = {
    "en": {"revoked": "Withdrawn by the data subject on {withdrawn}.",
           "expired": "Expired on {expires}.",
           "until": "Valid until {expires}, or until withdrawn earlier at {url}.",
           "open": "Valid until the data subject withdraws it at {url}."},
    "ar": {"revoked": "سحب صاحب البيانات موافقته بتاريخ {withdrawn}.",
           "expired": "انتهت صلاحية الموافقة بتاريخ {expires}.",
           "until": "الموافقة سارية حتى {expires}، ما لم تُسحب قبل ذلك عبر {url}.",
           "open": "الموافقة سارية إلى أن يسحبها صاحب البيانات عبر {url}."},
}


def _termination(facts: ReceiptFacts) -> str:
    text = _TERMINATION[facts.language]
    key = facts.status if facts.status != "active" else ("until" if facts.expires_at else "open")
    return text[key].format(
        withdrawn=_iso(facts.withdrawn_at) if facts.withdrawn_at else "",
        expires=_iso(facts.expires_at) if facts.expires_at else "",
        url=facts.withdrawal_url)


def _contact(controller: Mapping[str, str]) -> tuple[str, str]:
    contact = controller["contact"]
    email = controller.get("email") or (contact if "@" in contact and " " not in contact else "")
    return contact, email


def kantara_receipt(facts: ReceiptFacts, public_key: str | None = None) -> dict:
    """Kantara Initiative Consent Receipt Specification v1.1 JSON.

    ``consentTimestamp`` is the time of this receipt's event (each event is its own consent
    transaction). Free-text fields (collection method, termination) are in ``facts.language``.
    """
    controller = facts.controller
    contact, email = _contact(controller)
    pii_controller = {
        "piiController": controller["name"],
        "contact": contact,
        "address": _plain(controller.get("address", "")),
        "email": email,
        "phone": controller.get("phone", ""),
        "piiControllerUrl": controller["url"],
    }
    third_parties = [str(n) for n in controller.get("third_parties", ()) or ()]
    purpose = {
        "purpose": facts.purpose,
        "purposeCategory": [_KANTARA_PURPOSE.get(facts.purpose_category, _KANTARA_PURPOSE_DEFAULT),
                            facts.purpose_category],
        "consentType": "EXPLICIT",
        "piiCategory": sorted({_KANTARA_PII[f] for f in facts.fields}),
        "primaryPurpose": True,
        "termination": _termination(facts),
        "thirdPartyDisclosure": bool(third_parties),
    }
    if third_parties:
        purpose["thirdPartyName"] = ", ".join(third_parties)
    sensitive = facts.sensitive_scopes()
    receipt = {
        "version": KANTARA_VERSION,
        "jurisdiction": facts.jurisdiction,
        "consentTimestamp": int(facts.issued_at.timestamp()),
        "collectionMethod": _COLLECTION[facts.language][facts.event].format(issuer=facts.issuer["name"]),
        "consentReceiptID": facts.receipt_id,
        "language": facts.language,
        "piiPrincipalId": facts.subject_id,
        "piiControllers": [pii_controller],
        "policyUrl": facts.policy_url,
        "services": [{"service": controller.get("service") or controller["name"], "purposes": [purpose]}],
        "sensitive": bool(sensitive),
        "spiCat": [get_scope(s).label(facts.language) for s in sensitive],
    }
    if facts.terms is not None:
        receipt["vrmAgreedTerms"] = _plain(facts.terms)  # an extension: the customer's own terms
    if public_key is not None:
        receipt["publicKey"] = public_key
    return receipt


def _plain(value):
    """Mapping proxies and tuples -> JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- ISO/IEC TS 27560 receipt in W3C DPV JSON-LD ------------------------------------------------

_ISO_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


def _jurisdiction(code: str) -> str:
    return f"loc:{code}" if _ISO_REGION.match(code) else code


def _entity(party: Mapping[str, str], role: str) -> dict:
    node = {"@id": party["url"], "@type": role, "dpv:hasName": party["name"], "schema:url": party["url"]}
    contact, email = _contact(party) if "contact" in party else ("", party.get("email", ""))
    point = {"@type": "schema:ContactPoint"}
    if email:
        point["schema:email"] = email
    if party.get("phone"):
        point["schema:telephone"] = party["phone"]
    if contact and contact != email:
        point["schema:name"] = contact
    if len(point) > 1:
        node["schema:contactPoint"] = point
    if party.get("address"):
        node["schema:address"] = _plain(party["address"])
    return node


def _duration(facts: ReceiptFacts) -> dict:
    if facts.expires_at is not None:
        return {"@type": "dpv:UntilTimeDuration", "rdf:value": _iso(facts.expires_at)}
    return {"@type": "dpv:UntilEventDuration", "rdf:value": "Withdrawal of consent by the data subject"}


def dpv_receipt(facts: ReceiptFacts) -> dict:
    """ISO/IEC TS 27560 consent receipt using DPV, per the DPVCG guide "consent-27560".

    The receipt wraps one ``dpv:ConsentRecord`` (``dpv:hasRecordOfActivity``), as the guide's
    receipt profile does; the record carries the 27560 mandatory fields.
    """
    indicated_at = {"active": facts.granted_at, "revoked": facts.withdrawn_at, "expired": facts.expires_at}
    status = {
        "@type": _DPV_STATUS[facts.status],
        "dpv:isIndicatedBy": facts.issuer["url"] if facts.event == "expire" else "dpv:DataSubject",
        "dpv:isIndicatedAtTime": _iso(indicated_at[facts.status]),
        "dpv:hasDuration": _duration(facts),
        "dct:valid": f"{_iso(facts.granted_at)}/{_iso(facts.expires_at) if facts.expires_at else '..'}",
    }
    process = {
        "@type": "dpv:Process",
        "dpv:hasPurpose": {"@type": "dpv:Purpose", "skos:broader": facts.purpose_category,
                           "dct:description": facts.purpose},
        "dpv:hasLegalBasis": facts.lawful_basis,
        "dpv:hasPersonalData": [{"@type": "dpv:PersonalData", "dct:identifier": f,
                                 "skos:broader": _PD_CATEGORY[f]} for f in facts.fields],
        "dpv:hasDataController": facts.issuer["url"],
        "dpv:hasRecipient": _entity(facts.controller, "dpv:Recipient"),
        "dpv:hasStorageCondition": [{"@type": "dpv:StorageDuration", "dpv:hasDuration": _duration(facts)}],
        "dpv:hasConsentControl": {"@type": "dpv:WithdrawConsent", "dpv:isExercisedAt": facts.withdrawal_url},
        "dpv:hasJurisdiction": _jurisdiction(facts.jurisdiction),
    }
    record = {
        "@id": f"urn:uuid:{facts.record_id}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": facts.record_id,
        "dct:conformsTo": DPV_27560_RECORD,
        "dct:language": facts.language,
        "dpv:hasDataSubject": {"@type": "dpv:DataSubject", "dct:identifier": facts.subject_id},
        "dpv:hasDataController": _entity(facts.issuer, "dpv:DataController"),
        "dpv:hasJurisdiction": _jurisdiction(facts.jurisdiction),
        "dpv:hasLegalBasis": facts.lawful_basis,
        "dpv:hasNotice": {"@id": facts.policy_url, "@type": "dpv:ConsentNotice", "dct:language": facts.language},
        "dpv:hasProcess": process,
        "dpv:hasConsentStatus": status,
    }
    if facts.terms is not None:
        # The customer's proffered terms, agreed by the recipient: a notice the data subject gave.
        record["dpv:hasNotice"] = [record["dpv:hasNotice"], {
            "@type": "dpv:PrivacyNotice", "dct:identifier": facts.terms["terms_id"],
            "dct:hasVersion": facts.terms.get("terms_version"), "dct:creator": "dpv:DataSubject",
            "dct:valid": facts.terms["agreed_at"], "dpv:hasIdentifier": facts.terms["agreement_hash"],
            "dct:source": facts.terms["terms_digest"]}]
    return {
        "@context": dict(DPV_CONTEXT),
        "@id": f"urn:uuid:{facts.receipt_id}",
        "@type": "dpv:ConsentReceipt",
        "dct:identifier": facts.receipt_id,
        "dpv:hasIdentifier": facts.receipt_id,
        "dct:conformsTo": DPV_27560_RECEIPT,
        "dct:created": _iso(facts.issued_at),
        "dct:publisher": facts.issuer["url"],
        "dct:language": facts.language,
        "dpv:hasRecordOfActivity": record,
    }


# -- signing ------------------------------------------------------------------------------------

def canonical_json(payload: Mapping) -> bytes:
    """The exact bytes that get signed: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _typ_for(payload: Mapping) -> str:
    if payload.get("version") == KANTARA_VERSION:
        return TYP_KANTARA
    if payload.get("dct:conformsTo") == DPV_27560_RECEIPT:
        return TYP_DPV
    raise ValueError("payload is neither a Kantara nor a DPV-27560 receipt; pass typ=")


def sign_receipt(payload: Mapping, keyring: SigningKeyring, *, typ: str | None = None) -> str:
    """Compact JWS (Ed25519) over the canonical JSON of ``payload``, by the keyring's active key."""
    active = keyring.active  # read once: a concurrent rotate cannot mismatch kid and key
    header = {"alg": JWS_ALG, "kid": active.kid, "typ": typ or _typ_for(payload)}
    return jws.serialize_compact(header, canonical_json(payload), OKPKey.import_key(active.private_key),
                                 algorithms=[JWS_ALG])


def verify_receipt(token: str, jwks: Mapping) -> dict:
    """Verify ``token`` with only the published ``jwks`` and return its payload.

    Raises :class:`ReceiptInvalid` for a bad signature, a kid not in the JWKS, a malformed
    token or JWKS, or a payload that is not a JSON object.
    """
    try:
        key_set = KeySet.import_key_set(_plain(jwks))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ReceiptInvalid(f"The JWKS cannot be used: {exc}") from None
    try:
        obj = jws.deserialize_compact(token, key_set, algorithms=[JWS_ALG])
    except (JoseError, ValueError, TypeError) as exc:
        raise ReceiptInvalid(f"The receipt signature does not verify: {exc.__class__.__name__}") from None
    if not obj.headers().get("kid"):
        raise ReceiptInvalid("The receipt has no kid.")
    try:
        payload = json.loads(obj.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptInvalid("The receipt payload is not JSON.") from None
    if not isinstance(payload, dict):
        raise ReceiptInvalid("The receipt payload is not a JSON object.")
    return payload


# -- human-readable page ------------------------------------------------------------------------

_TEXT = {
    "en": {
        "title": "Consent receipt",
        "headline": {"grant": "You shared data with {vendor}",
                     "narrow": "You reduced what you share with {vendor}",
                     "widen": "You extended what you share with {vendor}",
                     "renew": "You renewed your consent for {vendor}",
                     "revoke": "You withdrew your consent from {vendor}",
                     "expire": "Your consent for {vendor} has expired"},
        "status": {"active": "Active", "revoked": "Withdrawn", "expired": "Expired"},
        "sensitivity": {"low": "Low", "medium": "Medium", "high": "High"},
        "access": {"read": "Can read", "write": "Can add"},
        "labels": {"vendor": "Shared with", "issuer": "Issued by", "purpose": "Purpose",
                   "purpose_category": "Type of purpose", "lawful_basis": "Legal basis",
                   "scopes": "What is shared", "status": "Status", "granted_at": "Granted on",
                   "expires_at": "Valid until", "withdrawn_at": "Withdrawn on",
                   "issued_at": "Receipt issued on", "receipt_id": "Receipt number",
                   "policy": "The vendor's privacy policy", "withdraw": "Withdraw this consent",
                   "jurisdiction": "Jurisdiction", "terms": "Your terms"},
        "terms_agreed": "The vendor accepted your terms: {title}.",
        "terms_none": "The vendor did not accept your own terms; its stated purpose above applies.",
        "until_withdrawn": "Until you withdraw it",
        "sensitive_notice": "This includes sensitive data.",
        "months": ("January", "February", "March", "April", "May", "June", "July", "August",
                   "September", "October", "November", "December"),
        "date": "{day} {month} {year}, {time} UTC",
    },
    "ar": {
        "title": "إيصال الموافقة",
        "headline": {"grant": "لقد شاركت بياناتك مع {vendor}",
                     "narrow": "لقد قلّصت نطاق البيانات التي تشاركها مع {vendor}",
                     "widen": "لقد وسّعت نطاق البيانات التي تشاركها مع {vendor}",
                     "renew": "لقد جدّدت موافقتك على مشاركة بياناتك مع {vendor}",
                     "revoke": "لقد سحبت موافقتك على مشاركة بياناتك مع {vendor}",
                     "expire": "انتهت مدة موافقتك على مشاركة بياناتك مع {vendor}"},
        "status": {"active": "سارية", "revoked": "مسحوبة", "expired": "منتهية"},
        "sensitivity": {"low": "منخفضة", "medium": "متوسطة", "high": "عالية"},
        "access": {"read": "قراءة", "write": "إضافة"},
        "labels": {"vendor": "الجهة المستلِمة", "issuer": "جهة الإصدار", "purpose": "الغرض",
                   "purpose_category": "نوع الغرض", "lawful_basis": "الأساس القانوني",
                   "scopes": "البيانات المُشارَكة", "status": "الحالة", "granted_at": "تاريخ المنح",
                   "expires_at": "صالحة حتى", "withdrawn_at": "تاريخ السحب",
                   "issued_at": "تاريخ إصدار الإيصال", "receipt_id": "رقم الإيصال",
                   "policy": "سياسة الخصوصية لدى الجهة", "withdraw": "سحب هذه الموافقة",
                   "jurisdiction": "الولاية القضائية", "terms": "شروطك"},
        "terms_agreed": "قبلت الجهة شروطك: {title}.",
        "terms_none": "لم تقبل الجهة شروطك الخاصة؛ ويسري الغرض المعلَن أعلاه.",
        "until_withdrawn": "إلى أن تسحبها",
        "sensitive_notice": "تشمل هذه الموافقة بيانات حسّاسة.",
        "months": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس",
                   "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"),
        "date": "{day} {month} {year}، الساعة {time} بالتوقيت العالمي (UTC)",
    },
}


def _date(value: datetime | None, text: dict) -> dict | None:
    if value is None:
        return None
    shown = text["date"].format(day=value.day, month=text["months"][value.month - 1],
                                year=value.year, time=value.strftime("%H:%M"))
    return {"iso": _iso(value), "text": shown}


def _terms_text(facts: ReceiptFacts, text: dict, lang: str) -> str:
    if facts.terms is None:
        return text["terms_none"]
    from .terms import CATALOGUE  # the catalogue holds the translated titles
    term = CATALOGUE.get(str(facts.terms["terms_id"]))
    title = term.label(lang) if term else str(facts.terms.get("terms_title", facts.terms["terms_id"]))
    return text["terms_agreed"].format(title=title)


def human_summary(facts: ReceiptFacts, lang: str) -> dict:
    """Every string the receipt page needs, in ``lang`` ("en" or "ar"; others fall back to English).

    Dates come as ``{"iso": ..., "text": ...}`` so the page can use ``<time datetime=iso>``.
    """
    lang = lang if lang in _TEXT else "en"
    text = _TEXT[lang]
    vendor = facts.controller["name"]
    sensitive = set(facts.sensitive_scopes())
    scopes = []
    for scope_id in facts.scope_ids:
        scope = get_scope(scope_id)
        scopes.append({"id": scope.id, "label": scope.label(lang), "explanation": scope.explain(lang),
                       "access": text["access"][scope.access], "sensitivity": scope.sensitivity,
                       "sensitivity_label": text["sensitivity"][scope.sensitivity],
                       "sensitive": scope.id in sensitive})
    return {
        "lang": lang,
        "dir": "rtl" if lang == "ar" else "ltr",
        "title": f"{text['title']}: {vendor}",
        "headline": text["headline"][facts.event].format(vendor=vendor),
        "labels": dict(text["labels"]),
        "vendor": vendor,
        "vendor_url": facts.controller["url"],
        "issuer": facts.issuer["name"],
        "purpose": facts.purpose,
        "purpose_category": DPV_PURPOSES[facts.purpose_category][lang],
        "lawful_basis": LAWFUL_BASES[facts.lawful_basis][lang],
        "jurisdiction": facts.jurisdiction,
        "scopes": scopes,
        "sensitive_notice": text["sensitive_notice"] if sensitive else None,
        "terms": _terms_text(facts, text, lang),
        "status": facts.status,
        "status_label": text["status"][facts.status],
        "granted_at": _date(facts.granted_at, text),
        "expires_at": _date(facts.expires_at, text),
        "expires_text": _date(facts.expires_at, text)["text"] if facts.expires_at else text["until_withdrawn"],
        "withdrawn_at": _date(facts.withdrawn_at, text),
        "issued_at": _date(facts.issued_at, text),
        "receipt_id": facts.receipt_id,
        "policy_url": facts.policy_url,
        "withdrawal_url": facts.withdrawal_url,
    }
