"""Grant, widen, narrow, renew, revoke, expire: each recorded in the ledger with a signed receipt."""
from datetime import timedelta

import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from consent import grants, ledger, policy
from consent.errors import GrantInactive, GrantNotFound, InvalidConsentChange
from consent.issuing import load_facts, receipts_for_grant
from consent.receipts import verify_receipt
from consent.scopes import UnknownScope
from vault.clock import utcnow

NOW = utcnow().replace(microsecond=0)


def _types(db, customer):
    return [e.type for e in reversed(ledger.entries_for(db, customer.public_id, limit=100))]


def test_grant_creates_a_live_grant_with_receipt_and_ledger_entry(db, ctx, customer, vendor_app):
    change = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name", "profile.email"],
                          now=NOW)
    grant = change.grant
    assert (change.event, grant.status) == ("grant", "active")
    assert grant.expires_at == NOW + timedelta(days=90)  # the default term
    assert policy.permitted_fields(grant, now=NOW) == {"given_name", "family_name", "display_name", "emails"}
    assert _types(db, customer) == ["grant"]
    entry = ledger.entries_for(db, customer.public_id, limit=1)[0]
    assert entry.data["scopes"] == ["profile.email", "profile.name"] and entry.data["vendor_app"] == vendor_app.client_id
    [receipt] = receipts_for_grant(db, grant.id)
    assert receipt.event == "grant" and receipt.kantara_jws.count(".") == 2


def test_pairwise_subjects_are_per_app_and_stable(db, ctx, customer, vendor_app, other_app):
    a = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], now=NOW).grant
    b = grants.grant(db, ctx, customer=customer, app=other_app, scopes=["profile.name"], now=NOW).grant
    assert a.subject != b.subject
    assert customer.public_id not in a.subject and str(customer.id) != a.subject
    grants.revoke(db, ctx, a, customer, now=NOW)
    again = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], now=NOW).grant
    assert again.subject == a.subject


@pytest.mark.parametrize("kwargs, error", [
    ({"scopes": ["no.such.scope"]}, UnknownScope),
    ({"scopes": ["cases.write"]}, InvalidConsentChange),          # not requested by the app
    ({"scopes": []}, InvalidConsentChange),
    ({"scopes": ["profile.name"], "term_days": 7}, InvalidConsentChange),
    ({"scopes": ["profile.name"], "fields": ["emails"]}, InvalidConsentChange),  # outside the scopes
    ({"scopes": ["profile.name"], "fields": ["notes"]}, InvalidConsentChange),   # never shareable
])
def test_invalid_grants_are_refused_and_leave_nothing(db, ctx, customer, vendor_app, kwargs, error):
    with pytest.raises(error):
        grants.grant(db, ctx, customer=customer, app=vendor_app, now=NOW, **kwargs)
    assert grants.find(db, customer.id, vendor_app.id) is None
    assert _types(db, customer) == []


def test_widening_happens_only_through_new_consent(db, ctx, customer, vendor_app):
    grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], now=NOW)
    change = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.email"], now=NOW)
    assert change.event == "widen" and change.grant.scopes == ["profile.email", "profile.name"]
    with pytest.raises(InvalidConsentChange):
        grants.narrow(db, ctx, change.grant, customer, scopes=["profile.name", "address.billing"], now=NOW)


def test_narrowing_to_fields_and_scopes(db, ctx, customer, vendor_app):
    grant = grants.grant(db, ctx, customer=customer, app=vendor_app,
                         scopes=["profile.name", "profile.email"], now=NOW).grant
    grants.narrow(db, ctx, grant, customer, fields=["given_name", "emails"], now=NOW)
    assert policy.permitted_fields(grant, now=NOW) == {"given_name", "emails"}
    grants.narrow(db, ctx, grant, customer, scopes=["profile.name"], now=NOW)
    assert policy.permitted_fields(grant, now=NOW) == {"given_name"}
    with pytest.raises(InvalidConsentChange):
        grants.narrow(db, ctx, grant, customer, fields=["given_name", "family_name"], now=NOW)
    change = grants.narrow(db, ctx, grant, customer, scopes=[], now=NOW)
    assert change.event == "revoke" and grant.status == "revoked"
    assert _types(db, customer) == ["grant", "narrow", "narrow", "revoke"]


def test_revocation_holds_for_the_very_next_decision(db, ctx, customer, vendor_app):
    grant = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], now=NOW).grant
    assert policy.decide(db, customer.id, vendor_app.id, now=NOW).fields
    grants.revoke(db, ctx, grant, customer, now=NOW)
    assert policy.permitted_fields(grant, now=NOW) == frozenset()
    with pytest.raises(GrantInactive):
        policy.decide(db, customer.id, vendor_app.id, now=NOW)
    assert grants.revoke(db, ctx, grant, customer, now=NOW).receipt is None  # idempotent, no second entry
    with pytest.raises(InvalidConsentChange):
        grants.renew(db, ctx, grant, customer, now=NOW)


def test_a_read_one_second_before_expiry_succeeds_and_one_after_fails(db, ctx, customer, vendor_app):
    grant = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], term_days=30,
                         now=NOW).grant
    expiry = NOW + timedelta(days=30)
    assert policy.decide(db, customer.id, vendor_app.id, now=expiry - timedelta(seconds=1)).fields
    with pytest.raises(GrantInactive):
        policy.decide(db, customer.id, vendor_app.id, now=expiry + timedelta(seconds=1))
    with pytest.raises(GrantInactive):
        policy.decide(db, customer.id, vendor_app.id, now=expiry)


def test_until_revoked_never_expires(db, ctx, customer, vendor_app):
    grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], term_days=None, now=NOW)
    assert policy.decide(db, customer.id, vendor_app.id, now=NOW + timedelta(days=3650)).fields


def test_expire_due_marks_expired_with_ledger_and_receipt(db, ctx, customer, vendor_app):
    grant = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], term_days=30,
                         now=NOW).grant
    assert grants.expire_due(db, ctx, now=NOW + timedelta(days=29)) == []
    changes = grants.expire_due(db, ctx, now=NOW + timedelta(days=31))
    assert [c.grant.id for c in changes] == [grant.id] and grant.status == "expired"
    assert _types(db, customer) == ["grant", "expire"]
    assert receipts_for_grant(db, grant.id)[0].event == "expire"
    renewed = grants.renew(db, ctx, grant, customer, term_days=90, now=NOW + timedelta(days=32))
    assert renewed.grant.status == "active"


def test_no_grant_is_not_found(db, customer, vendor_app):
    with pytest.raises(GrantNotFound):
        policy.decide(db, customer.id, vendor_app.id)


def test_another_customers_grant_id_finds_nothing(db, ctx, customer, vendor_app):
    from tests.conftest import STRONG_PASSWORD
    from vault.accounts import sign_up
    grant = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name"], now=NOW).grant
    intruder = sign_up(db, "intruder@example.com", STRONG_PASSWORD)
    with pytest.raises(GrantNotFound):
        grants.get_for_customer(db, intruder.id, grant.public_id)


def test_receipts_verify_with_nothing_but_the_published_jwks(db, ctx, client, customer, vendor_app):
    grant = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=["profile.name", "address.billing"],
                         now=NOW).grant
    grants.revoke(db, ctx, grant, customer, now=NOW + timedelta(hours=1))
    published = client.get("/.well-known/jwks.json")
    assert published.status_code == 200 and all("d" not in k for k in published.get_json()["keys"])
    keyset = KeySet.import_key_set(published.get_json())
    for receipt in receipts_for_grant(db, grant.id):
        for token in (receipt.kantara_jws, receipt.dpv_jws):
            assert jws.deserialize_compact(token, keyset, algorithms=["Ed25519"]).payload
            verify_receipt(token, published.get_json())
    revoked = receipts_for_grant(db, grant.id)[0]
    facts = load_facts(revoked)
    assert facts.status == "revoked" and facts.event == "revoke" and facts.subject_id == customer.public_id
