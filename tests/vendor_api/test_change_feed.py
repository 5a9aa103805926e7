"""The change feed: ordered, cursor-paged, per app, and under concurrent writers it loses and
repeats nothing."""
from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import select

from consent import events, feed, grants
from consent.outbox import AppEvent
from tests.conftest import PG_URL, STRONG_PASSWORD
from tests.vendor_api.conftest import ctx_for, direct_token, make_vendor
from tests.vendor_api.integration_helpers import app_token, bearer, committing_app
from vault.accounts import sign_up


@pytest.fixture
def ctx(app):
    return ctx_for(app)


def feed_of(client, token, cursor=None, limit=None):
    query = {k: v for k, v in (("cursor", cursor), ("limit", limit)) if v is not None}
    return client.get("/api/v1/changes", headers=bearer(token), query_string=query)


def read_all(client, token, limit=2):
    seen, cursor = [], None
    while True:
        page = feed_of(client, token, cursor, limit)
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.json
        seen += body["events"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return seen, cursor


def test_feed_pages_through_every_change_in_order(app, db, client, ctx, customer, vendor, other_vendor):
    g = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name", "profile.email"]).grant
    grants.grant(db, ctx, customer=customer, app=other_vendor.app, scopes=["profile.name"])
    db.commit()
    events.notify_profile_change(db, customer, ["given_name", "emails", "birth_date"])
    grants.narrow(db, ctx, g, customer, scopes=["profile.name"])
    grants.revoke(db, ctx, g, customer)
    db.commit()
    token = app_token(db, vendor)
    seen, cursor = read_all(client, token)
    assert [e["type"] for e in seen] == ["consent.granted", "profile.updated", "consent.updated", "consent.revoked"]
    assert [e["position"] for e in seen] == [1, 2, 3, 4]
    assert {e["sub"] for e in seen} == {g.subject} and {e["app"] for e in seen} == {vendor.client_id}
    assert seen[1]["data"] == {"fields": ["emails", "given_name"]}
    assert seen[2]["data"]["change"] == "narrow"
    # the cursor at the end stays put until something new happens, then continues after it
    again = feed_of(client, token, cursor).json
    assert again == {"events": [], "next_cursor": cursor, "has_more": False}
    grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"])
    db.commit()
    after = feed_of(client, token, cursor).json
    assert [(e["type"], e["position"]) for e in after["events"]] == [("consent.granted", 5)]
    # the other app sees only its own
    other_seen, _ = read_all(client, app_token(db, other_vendor))
    assert [e["type"] for e in other_seen] == ["consent.granted", "profile.updated"]
    assert other_seen[1]["data"] == {"fields": ["given_name"]}


def test_webhook_test_events_stay_out_of_the_feed(app, db, client, keys, ctx, customer, vendor):
    from vendor_api import webhooks
    webhooks.set_webhook_url(db, keys, vendor.app, "https://crm.acme.example/hooks")
    webhooks.send_test_event(db, vendor.app.id)
    grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"])
    db.commit()
    seen, _ = read_all(client, app_token(db, vendor))
    assert [e["type"] for e in seen] == ["consent.granted"]


@pytest.mark.parametrize("cursor", ["abc", "c1.", "c1.-4", "c2.5", "c1.99999999999999999999", "1"])
def test_a_cursor_the_feed_never_gave_is_a_422_problem(app, db, client, vendor, cursor):
    response = feed_of(client, app_token(db, vendor), cursor)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("limit", ["0", "501", "x"])
def test_a_bad_limit_is_a_422_problem(app, db, client, vendor, limit):
    response = feed_of(client, app_token(db, vendor), limit=limit)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def test_the_feed_needs_a_client_credentials_token(app, db, client, customer, vendor):
    assert client.get("/api/v1/changes").status_code == 401
    assert feed_of(client, "vv_at_unknown").status_code == 401
    customer_token = direct_token(db, app, customer, vendor, ["profile.name"])
    response = feed_of(client, customer_token)
    assert response.status_code == 403 and response.mimetype == "application/problem+json"


def test_the_feed_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/api/v1/changes" in paths and "post" in paths["/api/v1/deletion-confirmations"]


# --- concurrency: real commits on a database of the test's own --------------------------------

def _setup(inst, ctx, writers: int):
    db = inst.sessions()
    vendor = make_vendor(db)
    customers = []
    for i in range(writers):
        customer = sign_up(db, f"feed-{i}@example.com", STRONG_PASSWORD)
        grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=["profile.name"])
        customers.append(customer.id)
    db.commit()
    db.close()
    return vendor.app.id, customers


def _read_page(inst, app_id, cursor):
    """What GET /api/v1/changes does: seal and commit, then read a page."""
    db = inst.sessions()
    try:
        feed.seal(db, app_id)
        db.commit()
        found = feed.page(db, app_id, cursor, limit=7)
        return [(e.public_id, e.position) for e in found.events], found.next_cursor
    finally:
        db.close()


@pytest.mark.skipif(not PG_URL, reason="SQLite serialises writers: a later insert cannot commit first there")
def test_an_event_committed_after_a_later_one_is_not_skipped(fresh_database, instance_path):
    with committing_app(fresh_database, instance_path) as (application, inst, ctx):
        app_id, (first, second) = _setup(inst, ctx, 2)
        early, late = inst.sessions(), inst.sessions()
        slow = events.emit(early, type="profile.updated", app_id=app_id, account_id=first, data={"fields": ["a"]})
        fast = events.emit(late, type="profile.updated", app_id=app_id, account_id=second, data={"fields": ["b"]})
        assert slow.id < fast.id
        slow_id, fast_id = slow.public_id, fast.public_id
        late.commit()
        seen, cursor = _read_page(inst, app_id, None)
        assert [p for p, _ in seen][-1] == fast_id  # the later id is visible first...
        early.commit()
        more, _ = _read_page(inst, app_id, cursor)
        assert [p for p, _ in more] == [slow_id]  # ...and the earlier one still comes, after it
        early.close()
        late.close()


def test_concurrent_writers_lose_and_repeat_nothing(fresh_database, instance_path):
    writers, rounds = 4, 15
    with committing_app(fresh_database, instance_path) as (application, inst, ctx):
        app_id, customers = _setup(inst, ctx, writers)
        done, errors = threading.Event(), []

        def write(account_id, seed):
            rng = random.Random(seed)
            try:
                for i in range(rounds):
                    db = inst.sessions()
                    try:
                        for _ in range(rng.randint(1, 3)):
                            events.emit(db, type="profile.updated", app_id=app_id, account_id=account_id,
                                        data={"fields": [f"f{i}"]})
                        db.rollback() if rng.random() < 0.2 else db.commit()  # some never happen
                    finally:
                        db.close()
            except Exception as exc:  # reported below
                errors.append(exc)

        seen, cursor = [], None
        threads = [threading.Thread(target=write, args=(c, n)) for n, c in enumerate(customers)]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                page, cursor = _read_page(inst, app_id, cursor)
                seen += page
        finally:
            for t in threads:
                t.join(timeout=120)
            done.set()
        while True:  # drain what the last writers committed
            page, cursor = _read_page(inst, app_id, cursor)
            if not page:
                break
            seen += page
        assert not errors
        db = inst.sessions()
        committed = set(db.scalars(select(AppEvent.public_id).where(AppEvent.app_id == app_id)))
        db.close()
        ids = [p for p, _ in seen]
        assert len(ids) == len(set(ids)), "an event was served twice"
        assert set(ids) == committed, "an event was skipped"
        assert [pos for _, pos in seen] == list(range(1, len(seen) + 1))  # in order, no gaps
        assert len(committed) > writers  # the writers really wrote while the reader read
