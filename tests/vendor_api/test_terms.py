"""Proffered terms: the customer offers terms, apps accept them, the grant fixes the agreement.

End to end through the consent screen and the API, plus the catalogue served at
``/.well-known/vrm-terms`` and the customer's page to choose terms.
"""
from __future__ import annotations

import base64
import hashlib
import json

import pytest

from consent import grants, ledger, terms
from consent.issuing import receipts_for_grant
from consent.models import Grant
from tests.conftest import Portal
from vault.clock import utcnow


def _payload(jws: str) -> dict:
    part = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _grant_of(db, vendor, customer) -> Grant:
    db.expire_all()
    return grants.find(db, customer.id, vendor.app.id)


# --- the catalogue ---------------------------------------------------------------------------

def test_the_catalogue_is_published_machine_readable(client):
    body = client.get("/.well-known/vrm-terms").get_json()
    ids = [t["id"] for t in body["terms"]]
    assert len(ids) >= 3 and body["default"] in ids
    for term in body["terms"]:
        document = {k: term[k] for k in ("format", "id", "version", "title", "obligations")}
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert term["digest"] == "sha256:" + hashlib.sha256(canonical).hexdigest()  # anyone can check it
        assert term["obligations"]["third_party_sharing"] is False
        assert term["title_i18n"]["ar"] and term["summary_i18n"]["ar"]


def test_customers_proffer_the_strictest_term_until_they_choose(db, customer):
    assert terms.proffered(db, customer).term.id == terms.DEFAULT_TERM
    chosen = terms.choose(db, customer, "vrm-service-personalised")
    assert chosen.term.id == "vrm-service-personalised"
    with pytest.raises(Exception):
        terms.choose(db, customer, "vrm-anything-goes")


# --- through the consent screen ----------------------------------------------------------------

def test_an_app_that_accepts_the_terms_gets_an_agreement_in_grant_receipt_and_api(flow, logged_in, vendor, db):
    terms.set_accepted(db, vendor.app, ["vrm-service-only"])
    db.commit()
    path, _, _ = flow.authorize_url()
    page = flow.client.get(path).get_data(as_text=True)
    assert "accepts your terms" in page

    token = flow.tokens()["access_token"]
    grant = _grant_of(db, vendor, logged_in)
    agreement = grant.terms_agreement
    assert agreement["terms_id"] == "vrm-service-only"
    assert agreement["terms_digest"] == terms.CATALOGUE["vrm-service-only"].digest
    assert agreement["proffered_at"] <= agreement["accepted_at"] <= agreement["agreed_at"]

    receipt = receipts_for_grant(db, grant.id)[0]
    assert _payload(receipt.kantara_jws)["vrmAgreedTerms"]["agreement_hash"] == agreement["agreement_hash"]
    notices = _payload(receipt.dpv_jws)["dpv:hasRecordOfActivity"]["dpv:hasNotice"]
    assert any(n.get("dpv:hasIdentifier") == agreement["agreement_hash"] for n in notices)

    response = flow.api("/api/v1/me/terms", token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["agreed"] is True and body["agreement"]["agreement_hash"] == agreement["agreement_hash"]
    assert body["sub"] == grant.subject
    latest = ledger.entries_for(db, logged_in.public_id, limit=1)[0]
    assert latest.type == "read" and latest.vendor_app == vendor.client_id


def test_an_app_that_does_not_accept_the_terms_is_shown_as_such_and_agrees_to_nothing(flow, logged_in, vendor, db):
    terms.set_accepted(db, vendor.app, ["vrm-service-personalised-stats"])  # not what the customer offers
    db.commit()
    path, _, _ = flow.authorize_url()
    assert "does not accept your terms" in flow.client.get(path).get_data(as_text=True)
    token = flow.tokens()["access_token"]
    assert _grant_of(db, vendor, logged_in).terms_agreement is None
    assert flow.api("/api/v1/me/terms", token).get_json() == {
        "sub": _grant_of(db, vendor, logged_in).subject, "agreed": False, "agreement": None}


def test_an_agreement_stays_as_made_when_the_customer_later_changes_terms(flow, logged_in, vendor, db):
    terms.set_accepted(db, vendor.app, ["vrm-service-only", "vrm-service-personalised"])
    db.commit()
    flow.tokens(scope=("profile.name",))
    first = _grant_of(db, vendor, logged_in).terms_agreement
    terms.choose(db, logged_in, "vrm-service-personalised")
    db.commit()
    flow.tokens()  # widens the live grant
    assert _grant_of(db, vendor, logged_in).terms_agreement == first


def test_terms_need_a_token_with_a_live_grant(flow, logged_in, vendor, db):
    token = flow.tokens()["access_token"]
    grant = _grant_of(db, vendor, logged_in)
    from vendor_api.context import consent_context
    with flow.client.application.test_request_context():
        grants.revoke(db, consent_context(), grant, logged_in, now=utcnow())
    db.commit()
    response = flow.api("/api/v1/me/terms", token)
    assert response.status_code == 401
    assert flow.api("/api/v1/me/terms", None).status_code == 401


# --- the customer's page --------------------------------------------------------------------------

def test_the_customer_chooses_terms_in_the_portal(app, db, customer):
    portal = Portal(app.test_client())
    portal.login(customer.email)
    page = portal.client.get("/me/terms").get_data(as_text=True)
    assert "For this service only" in page and 'checked' in page
    assert portal.post("/me/terms", {"term": "vrm-service-personalised"}).status_code == 303
    db.expire_all()
    assert terms.proffered(db, customer).term.id == "vrm-service-personalised"
    refused = portal.post("/me/terms", {"term": "no-such-term"})
    assert refused.status_code == 422 and "Choose one of the terms" in refused.get_data(as_text=True)
    assert terms.proffered(db, customer).term.id == "vrm-service-personalised"


def test_an_app_declares_terms_from_the_cli(app, db, vendor):
    result = app.test_cli_runner().invoke(args=["vault", "vendor", "accept-terms", vendor.client_id,
                                                "--term", "vrm-service-only"])
    assert result.exit_code == 0, result.output
    assert "vrm-service-only" in result.output
    unknown = app.test_cli_runner().invoke(args=["vault", "vendor", "accept-terms", vendor.client_id,
                                                 "--term", "bogus"])
    assert unknown.exit_code != 0
