"""Deletion confirmations: the vendor confirms, the ledger records, the customer sees it, and
privacy officers see the ones overdue."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from consent import deletions, grants, ledger, portability
from consent.outbox import AppEvent
from tests.vendor_api.conftest import ctx_for, direct_token
from tests.vendor_api.integration_helpers import app_token, bearer

URL = "/api/v1/deletion-confirmations"


@pytest.fixture
def ctx(app):
    return ctx_for(app)


@pytest.fixture
def revoked(db, ctx, customer, vendor):
    g = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"]).grant
    grants.revoke(db, ctx, g, customer)
    db.commit()
    return g


def confirm(client, token, **body):
    body.setdefault("deleted_at", datetime.now(timezone.utc).isoformat())
    return client.post(URL, json=body, headers=bearer(token))


def revoke_event(db, grant):
    return db.scalar(select(AppEvent).where(AppEvent.app_id == grant.app_id, AppEvent.subject == grant.subject,
                                            AppEvent.type == "consent.revoked"))


def test_vendor_confirms_and_the_ledger_records_it(app, db, client, customer, vendor, revoked):
    event = revoke_event(db, revoked)
    response = confirm(client, app_token(db, vendor), sub=revoked.subject, event_id=event.public_id,
                       grant=revoked.public_id, note="CRM record and mailing list entry removed.")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.json
    assert body["sub"] == revoked.subject and body["event_id"] == event.public_id
    assert body["id"].startswith("dc_")
    [entry] = [e for e in ledger.iter_chain(db, customer.public_id) if e.type == "deletion_confirmed"]
    data = entry.data
    assert data["vendor_app"] == vendor.client_id and data["actor_role"] == "vendor"
    assert data["details"]["event"] == event.public_id
    assert "CRM record" not in entry.canonical.decode()  # the vendor's note stays out of the ledger
    assert ledger.verify(db, chain=customer.public_id).ok
    assert deletions.confirmation_for_grant(db, revoked).public_id == body["id"]


def test_without_an_event_id_the_newest_deletion_event_is_answered(app, db, client, vendor, revoked):
    response = confirm(client, app_token(db, vendor), sub=revoked.subject)
    assert response.status_code == 201
    assert response.json["event_id"] == revoke_event(db, revoked).public_id


def test_confirmations_need_a_client_credentials_token(app, db, client, customer, vendor, other_vendor, revoked):
    assert client.post(URL, json={"sub": revoked.subject, "deleted_at": "2026-01-01T00:00:00Z"}).status_code == 401
    live_token = direct_token(db, app, customer, other_vendor, ["profile.name"])
    response = confirm(client, live_token, sub=revoked.subject)
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert deletions.confirmation_for_grant(db, revoked) is None


def test_only_the_apps_own_customers_events_and_grants(app, db, client, ctx, customer, vendor, other_vendor, revoked):
    theirs = grants.grant(db, ctx, customer=customer, app=other_vendor.app, scopes=["profile.name"]).grant
    grants.revoke(db, ctx, theirs, customer)
    db.commit()
    token = app_token(db, vendor)
    for body in ({"sub": theirs.subject}, {"sub": "sub_nobody"},
                 {"sub": revoked.subject, "event_id": revoke_event(db, theirs).public_id},
                 {"sub": revoked.subject, "grant": theirs.public_id}):
        response = confirm(client, token, **body)
        assert response.status_code == 404, body
        assert response.mimetype == "application/problem+json"
    assert deletions.confirmation_for_grant(db, theirs) is None


def test_nothing_to_confirm_while_consent_is_live(app, db, client, ctx, customer, vendor):
    live = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"]).grant
    db.commit()
    response = confirm(client, app_token(db, vendor), sub=live.subject)
    assert response.status_code == 409 and response.mimetype == "application/problem+json"


def test_a_deletion_in_the_future_is_refused(app, db, client, vendor, revoked):
    response = confirm(client, app_token(db, vendor), sub=revoked.subject, deleted_at="2099-01-01T00:00:00+00:00")
    assert response.status_code == 409 and "future" in response.json["detail"]
    assert deletions.confirmation_for_grant(db, revoked) is None


@pytest.mark.parametrize("body", [
    {"deleted_at": "yesterday"}, {"deleted_at": "2026-01-01T00:00:00"},  # not a time; no zone
    {"note": "x" * 501}, {"sub": ""}, {"sub": None}, {"unknown": 1}])
def test_malformed_confirmations_are_422(app, db, client, vendor, revoked, body):
    payload = {"sub": revoked.subject, "deleted_at": "2026-01-01T00:00:00+00:00", **body}
    response = client.post(URL, json=payload, headers=bearer(app_token(db, vendor)))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert deletions.confirmation_for_grant(db, revoked) is None


def test_an_erased_customer_can_still_be_confirmed(app, db, client, ctx, customer, vendor):
    g = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"]).grant
    db.commit()
    subject, chain = g.subject, customer.public_id
    portability.erase_all(db, ctx, customer)
    db.commit()
    response = confirm(client, app_token(db, vendor), sub=subject)
    assert response.status_code == 201
    erased = db.scalar(select(AppEvent).where(AppEvent.subject == subject, AppEvent.type == "account.erased"))
    assert response.json["event_id"] == erased.public_id
    assert [e.type for e in ledger.iter_chain(db, chain)][-1] == "deletion_confirmed"


# --- what the customer sees -----------------------------------------------------------------

def test_the_customer_sees_not_yet_confirmed_then_deleted_by_vendor(app, db, client, portal, vendor, customer, revoked):
    portal.login(customer.email)
    page = client.get(f"/me/connections/{revoked.public_id}").get_data(as_text=True)
    assert "not yet confirmed" in page
    listing = client.get("/me/connections").get_data(as_text=True)
    assert "deletion not yet confirmed" in listing
    assert confirm(client, app_token(db, vendor), sub=revoked.subject,
                   deleted_at="2026-11-20T10:00:00+00:00").status_code == 201
    page = client.get(f"/me/connections/{revoked.public_id}").get_data(as_text=True)
    assert "deleted by vendor on" in page and "not yet confirmed" not in page
    assert "deleted by vendor on" in client.get("/me/connections").get_data(as_text=True)


def test_a_live_connection_shows_no_deletion_status(app, db, client, portal, ctx, customer, vendor):
    live = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"]).grant
    db.commit()
    portal.login(customer.email)
    page = client.get(f"/me/connections/{live.public_id}").get_data(as_text=True)
    assert "not yet confirmed" not in page and "deleted by vendor" not in page


# --- what privacy officers get ---------------------------------------------------------------

def test_overdue_confirmations_for_privacy_officers(app, db, ctx, customer, vendor, other_vendor):
    t0 = datetime.now(timezone.utc) - timedelta(days=40)
    late = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"], now=t0).grant
    kept = grants.grant(db, ctx, customer=customer, app=other_vendor.app, scopes=["profile.name"], now=t0).grant
    grants.revoke(db, ctx, late, customer, now=t0 + timedelta(days=1))
    grants.revoke(db, ctx, kept, customer, now=t0 + timedelta(days=1))
    db.commit()
    now = t0 + timedelta(days=32)
    overdue = deletions.overdue_deletion_confirmations(db, now)
    assert {(o.client_id, o.event_type, o.days_waiting) for o in overdue} >= {
        (vendor.client_id, "consent.revoked", 31), (other_vendor.client_id, "consent.revoked", 31)}
    assert not deletions.overdue_deletion_confirmations(db, t0 + timedelta(days=30))  # 29 days: not yet
    deletions.confirm(db, other_vendor.app, subject=kept.subject, deleted_at=now, now=now)
    db.commit()
    mine = [o for o in deletions.overdue_deletion_confirmations(db, now)
            if o.client_id in (vendor.client_id, other_vendor.client_id)]
    assert [(o.client_id, o.customer, o.vendor_name) for o in mine] == [
        (vendor.client_id, customer.public_id, vendor.app.org.name)]
    # a customer who grants the app again is no longer waiting for a deletion
    grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"], now=now)
    db.commit()
    assert not [o for o in deletions.overdue_deletion_confirmations(db, now) if o.client_id == vendor.client_id]


def test_the_customer_is_told_once_the_vendor_confirms(app, db, client, customer, vendor, revoked):
    from consent.notifications import Notification
    response = confirm(client, app_token(db, vendor), sub=revoked.subject, deleted_at="2026-03-10T09:00:00+00:00")
    assert response.status_code == 201
    db.expire_all()
    [note] = db.scalars(select(Notification).where(Notification.account_id == customer.id,
                                                   Notification.event == "deletion_confirmed")).all()
    assert note.params == {"vendor": vendor.app.name, "date": "2026-03-10"}


@pytest.mark.parametrize("deleted_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_deletion_time_outside_what_can_be_recorded_is_422(db, client, vendor, revoked, deleted_at):
    response = confirm(client, app_token(db, vendor), sub=revoked.subject, deleted_at=deleted_at)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "deleted_at" in str(response.json["errors"])
    assert deletions.confirmation_for_grant(db, revoked) is None
