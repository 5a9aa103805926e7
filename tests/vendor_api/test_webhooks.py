"""Webhooks: written with the change, signed, delivered to a real server, retried, never twice."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from consent import events, grants, portability
from consent.outbox import AppEvent, WebhookDelivery, WebhookEndpoint
from tests.conftest import STRONG_PASSWORD
from tests.vendor_api.conftest import make_vendor
from tests.vendor_api.integration_helpers import committing_app, receiver
from vault import records
from vault.accounts import sign_up
from vendor_api import webhooks

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
NAME_SCOPES = ["profile.name"]


def at(moment):
    return lambda: moment


def run(app, ctx, moment):
    inst = app.extensions["vrm"]
    return webhooks.run_once(inst.sessions, inst.keys, ctx, now=at(moment))


@pytest.fixture
def ctx(app):
    from tests.vendor_api.conftest import ctx_for
    return ctx_for(app)


def hooked(db, keys, vendor, url) -> str:
    secret = webhooks.set_webhook_url(db, keys, vendor.app, url, now=T0)
    db.commit()
    return secret


def grant(db, ctx, customer, vendor, scopes=NAME_SCOPES, now=T0, **kwargs):
    change = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=scopes, now=now, **kwargs)
    db.commit()
    return change.grant


def deliveries(db, vendor):
    db.expire_all()
    return list(db.scalars(select(WebhookDelivery).where(WebhookDelivery.app_id == vendor.app.id)
                           .order_by(WebhookDelivery.id)))


def independent_signature_ok(secret: str, header: str, body: bytes) -> bool:
    """Verify the way docs/webhooks.md tells vendors to, without our code."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


# --- delivery -------------------------------------------------------------------------------

def test_a_grant_is_delivered_signed_to_a_real_server(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        secret = hooked(db, keys, vendor, hook.url)
        g = grant(db, ctx, customer, vendor)
        summary = run(app, ctx, T0)
    assert summary["attempted"] == 1
    [got] = hook.received
    assert got.path == "/hooks/vrm"
    assert got.headers["vrm-event-type"] == "consent.granted"
    assert got.headers["content-type"] == "application/json"
    assert independent_signature_ok(secret, got.headers["vrm-signature"], got.body)
    assert got.headers["vrm-signature"].startswith(f"t={int(T0.timestamp())},v1=")
    body = got.json
    assert body["id"] == got.headers["vrm-event-id"]
    assert body["type"] == "consent.granted" and body["app"] == vendor.client_id
    assert body["sub"] == g.subject and body["data"]["scopes"] == NAME_SCOPES
    # the customer appears only by the app's pairwise id: no internal id, email or chain
    text = got.body.decode()
    assert customer.public_id not in text and customer.email not in text and f'"{customer.id}"' not in text
    [row] = deliveries(db, vendor)
    assert (row.state, row.attempts, row.last_status_code) == ("delivered", 1, 200)


def test_a_wrong_secret_does_not_verify(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor)
        run(app, ctx, T0)
    [got] = hook.received
    assert not independent_signature_ok("whsec_not-the-secret", got.headers["vrm-signature"], got.body)
    tampered = got.body.replace(b"consent.granted", b"consent.revoked")
    secret_row = db.get(WebhookEndpoint, vendor.app.id)
    secret = webhooks.open_secret(keys, vendor.app, secret_row)
    assert not independent_signature_ok(secret, got.headers["vrm-signature"], tampered)


def test_a_failing_receiver_gets_retries_with_growing_delays_then_failed(app, db, keys, ctx, customer, vendor):
    with receiver(500) as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor)
        moment, delays = T0, []
        for _ in range(60):
            run(app, ctx, moment)
            [row] = deliveries(db, vendor)
            if row.state != "pending":
                break
            delays.append(row.next_attempt_at - row.last_attempt_at)
            assert run(app, ctx, row.next_attempt_at - timedelta(seconds=1))["attempted"] == 0  # not before
            moment = row.next_attempt_at
    assert row.state == "failed"
    assert row.last_status_code == 500 and row.last_error == "HTTP 500"
    assert len(hook.received) == row.attempts > 10
    assert delays[0] <= timedelta(seconds=30)
    assert all(later > earlier for earlier, later in zip(delays, delays[1:webhooks_cap_index(delays)]))
    assert max(delays) <= webhooks.MAX_DELAY
    # retried for about a day, then given up
    assert timedelta(hours=22) <= row.last_attempt_at - T0 <= webhooks.RETRY_FOR
    # every attempt was the same event, freshly signed
    assert len({r.headers["vrm-event-id"] for r in hook.received}) == 1


def webhooks_cap_index(delays) -> int:
    """Delays grow until they reach the cap (then they only jitter below it)."""
    cap_floor = webhooks.MAX_DELAY * 0.75
    return next((i for i, d in enumerate(delays) if d >= cap_floor), len(delays))


def test_a_receiver_that_recovers_gets_the_event(app, db, keys, ctx, customer, vendor):
    with receiver(503, 502, 200) as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor)
        moment = T0
        for _ in range(3):
            run(app, ctx, moment)
            [row] = deliveries(db, vendor)
            moment = row.next_attempt_at
    ids = [r.headers["vrm-event-id"] for r in hook.received]
    assert len(ids) == 3 and len(set(ids)) == 1
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == ("delivered", 3, 200, None)


def test_redirects_are_not_followed(app, db, keys, ctx, customer, vendor):
    with receiver(302, headers={"Location": "http://127.0.0.1:9/elsewhere"}) as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor)
        run(app, ctx, T0)
    assert len(hook.received) == 1
    [row] = deliveries(db, vendor)
    assert (row.state, row.last_status_code, row.last_error) == ("pending", 302, "HTTP 302")


def test_an_unreachable_endpoint_is_an_error_summary_not_a_crash(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        url = hook.url
    hooked(db, keys, vendor, url)  # the server is gone now
    grant(db, ctx, customer, vendor)
    run(app, ctx, T0)
    [row] = deliveries(db, vendor)
    assert row.state == "pending" and row.last_status_code is None
    assert row.last_error.startswith("ConnectionError")


def test_an_app_without_a_webhook_gets_events_but_no_deliveries(app, db, ctx, customer, vendor):
    grant(db, ctx, customer, vendor)
    assert deliveries(db, vendor) == []
    assert db.scalar(select(func.count()).select_from(AppEvent).where(AppEvent.app_id == vendor.app.id)) == 1


# --- exactly once, and only what committed ------------------------------------------------

def test_a_revoke_in_a_rolled_back_transaction_emits_nothing(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        hooked(db, keys, vendor, hook.url)
        g = grant(db, ctx, customer, vendor)
        grants.revoke(db, ctx, g, customer, now=T0 + timedelta(minutes=1))
        assert db.scalar(select(func.count()).select_from(AppEvent).where(AppEvent.type == "consent.revoked",
                                                                          AppEvent.app_id == vendor.app.id)) == 1
        db.rollback()  # the request failed after the revoke
        run(app, ctx, T0 + timedelta(minutes=2))
    types = db.scalars(select(AppEvent.type).where(AppEvent.app_id == vendor.app.id)).all()
    assert types == ["consent.granted"]
    assert [r.headers["vrm-event-type"] for r in hook.received] == ["consent.granted"]
    assert len(deliveries(db, vendor)) == 1


def test_two_workers_never_deliver_one_event_twice(fresh_database, instance_path):
    with committing_app(fresh_database, instance_path) as (application, inst, ctx), receiver() as hook:
        db = inst.sessions()
        vendor = make_vendor(db)
        webhooks.set_webhook_url(db, inst.keys, vendor.app, hook.url, now=T0)
        for i in range(12):
            customer = sign_up(db, f"worker-{i}@example.com", STRONG_PASSWORD)
            g = grants.grant(db, ctx, customer=customer, app=vendor.app, scopes=NAME_SCOPES, now=T0).grant
            grants.narrow(db, ctx, g, customer, fields=["given_name"], now=T0)
            db.commit()
        expected = set(db.scalars(select(AppEvent.public_id).where(AppEvent.app_id == vendor.app.id)))
        assert len(expected) == 24
        db.close()

        go, errors = threading.Barrier(2), []

        def worker():
            try:
                go.wait(timeout=30)
                webhooks.deliver_due(inst.sessions, inst.keys, now=at(T0), batch=3)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        sent = [r.headers["vrm-event-id"] for r in hook.received]
        assert sorted(sent) == sorted(expected)  # every event once: none lost, none twice
        db = inst.sessions()
        states = db.scalars(select(WebhookDelivery.state)).all()
        assert states == ["delivered"] * 24
        assert db.scalar(select(func.sum(WebhookDelivery.attempts))) == 24
        db.close()


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_runs_out(app, db, keys, ctx, customer, vendor):
    hooked(db, keys, vendor, "https://crm.acme.example/hooks")
    grant(db, ctx, customer, vendor)
    first = webhooks.claim_due(db, now=T0)
    assert len(first) == 1
    assert webhooks.claim_due(db, now=T0 + timedelta(minutes=1)) == []
    again = webhooks.claim_due(db, now=T0 + webhooks.LEASE + timedelta(seconds=1))
    assert [i for i, _ in again] == [i for i, _ in first]
    # the first worker's lease is gone: its late result is not recorded over the second's
    assert webhooks._record(db, first[0][0], first[0][1], webhooks.Outcome(200, None), T0) is False
    assert deliveries(db, vendor)[0].state == "pending"


# --- what each event says -------------------------------------------------------------------

def test_profile_updated_names_only_changed_fields_inside_each_grant(app, db, keys, ctx, customer):
    names = make_vendor(db, name="Names")
    phones = make_vendor(db, name="Phones")
    narrowed = make_vendor(db, name="Narrowed")
    prefs = make_vendor(db, name="Prefs")
    gone = make_vendor(db, name="Gone")
    grant(db, ctx, customer, names, ["profile.name"])
    grant(db, ctx, customer, phones, ["profile.phone", "profile.name"])
    grant(db, ctx, customer, narrowed, ["profile.name"], fields=["family_name"])
    grant(db, ctx, customer, prefs, ["preferences.interests"])
    revoked = grant(db, ctx, customer, gone, ["profile.name"])
    grants.revoke(db, ctx, revoked, customer, now=T0)
    db.commit()
    now = T0 + timedelta(hours=1)
    changed = records.write_fields(db, keys, customer, {"given_name": "Amira", "phones": [{"number": "+447700900123"}]},
                                   now=now)
    events.notify_profile_change(db, customer, changed, now=now)
    db.commit()

    def said(vendor):
        return [e.data for e in db.scalars(select(AppEvent).where(AppEvent.app_id == vendor.app.id,
                                                                  AppEvent.type == "profile.updated"))]
    assert said(names) == [{"fields": ["given_name"]}]
    assert said(phones) == [{"fields": ["given_name", "phones"]}]
    assert said(narrowed) == [] and said(prefs) == [] and said(gone) == []
    stored = " ".join(e.data_json for e in db.scalars(select(AppEvent)))
    assert "Amira" not in stored and "+447700900123" not in stored


def test_the_portal_save_path_emits_profile_updated(app, db, client, portal, ctx, customer, vendor):
    grant(db, ctx, customer, vendor, ["profile.name"], now=None)
    portal.login(customer.email)
    form = portal.client.get("/me/profile").get_data(as_text=True)
    assert "given_name" in form
    response = portal.post("/me/profile", {"given_name": "Amira", "family_name": "Haddad"})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    db.expire_all()
    [event] = db.scalars(select(AppEvent).where(AppEvent.app_id == vendor.app.id, AppEvent.type == "profile.updated"))
    assert event.data == {"fields": ["family_name", "given_name"]}


def test_consent_changes_and_erasure_emit_their_events(app, db, ctx, customer, vendor):
    g = grant(db, ctx, customer, vendor, ["profile.name", "profile.email"])
    grants.narrow(db, ctx, g, customer, scopes=["profile.name"], now=T0 + timedelta(minutes=1))
    grants.renew(db, ctx, g, customer, term_days=30, now=T0 + timedelta(minutes=2))
    db.commit()
    subject = g.subject
    portability.erase_all(db, ctx, customer, now=T0 + timedelta(minutes=3))
    db.commit()
    rows = db.scalars(select(AppEvent).where(AppEvent.app_id == vendor.app.id).order_by(AppEvent.id)).all()
    assert [(e.type, e.data.get("change")) for e in rows] == [
        ("consent.granted", None), ("consent.updated", "narrow"), ("consent.updated", "renew"),
        ("consent.revoked", None), ("account.erased", None)]
    assert {e.subject for e in rows} == {subject}
    assert rows[1].data["scopes"] == ["profile.name"]


def test_the_worker_expires_due_grants_and_tells_the_app(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor, term_days=30)
        run(app, ctx, T0)
        summary = run(app, ctx, T0 + timedelta(days=31))
    assert summary["expired"] == 1
    assert [r.headers["vrm-event-type"] for r in hook.received] == ["consent.granted", "consent.expired"]
    assert hook.received[1].json["data"]["status"] == "expired"


def test_cli_worker_once(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor, now=None)
        result = app.test_cli_runner().invoke(args=["vault", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Worker round done." in result.output
    assert [r.headers["vrm-event-type"] for r in hook.received] == ["consent.granted"]


# --- endpoint, secret and the console's services ---------------------------------------------

@pytest.mark.parametrize("url", ["http://crm.acme.example/hook", "ftp://crm.acme.example/", "https://user:pw@crm.acme.example/",
                                 "https://10.0.0.7/hook", "https://[fd00::1]/hook", "https://169.254.169.254/latest",
                                 "https://crm.acme.example/hook#x", "", "https://", "https://crm.acme.example:99999/",
                                 "https://crm.acme.example/" + "a" * 500,
                                 # legacy IPv4 notations of private addresses (10.0.0.1, 169.254.169.254, 127.0.0.1)
                                 "https://167772161/", "https://0xa9fea9fe/", "https://0177.0.0.1/", "https://127.1/",
                                 # host names the HTTP library cannot even parse; port 0; brackets around no IPv6
                                 "https://a..com/", "https://" + "a" * 64 + ".example/", "https://ex ample.com/",
                                 "https://exa%00mple.com/", "https://crm.acme.example:0/", "https://[v1.fe]/"])
def test_webhook_urls_that_are_refused(db, keys, vendor, url):
    with pytest.raises(webhooks.WebhookError):
        webhooks.set_webhook_url(db, keys, vendor.app, url)
    assert db.get(WebhookEndpoint, vendor.app.id) is None


@pytest.mark.parametrize("url", ["https://crm.acme.example/hook?x=1", "http://127.0.0.1:8080/hook",
                                 "http://localhost/hook", "http://[::1]:9000/", "https://bücher.example/hook",
                                 "https://xn--bcher-kva.example/hook", "https://crm.acme.example./hook"])
def test_webhook_urls_that_are_accepted(db, keys, vendor, url):
    assert webhooks.set_webhook_url(db, keys, vendor.app, url).startswith("whsec_")
    assert webhooks.webhook_endpoint(db, vendor.app.id).url == url


def test_the_secret_is_sealed_shown_once_and_rotates(app, db, keys, ctx, customer, vendor):
    with receiver() as hook:
        first = hooked(db, keys, vendor, hook.url)
        row = db.get(WebhookEndpoint, vendor.app.id)
        assert first.encode() not in row.secret_sealed
        assert webhooks.set_webhook_url(db, keys, vendor.app, hook.url + "?v=2") is None  # same secret
        second = webhooks.rotate_webhook_secret(db, keys, vendor.app)
        db.commit()
        assert second != first and second.startswith("whsec_")
        grant(db, ctx, customer, vendor)
        run(app, ctx, T0)
    [got] = hook.received
    assert got.path == "/hooks/vrm?v=2"
    assert independent_signature_ok(second, got.headers["vrm-signature"], got.body)
    assert not independent_signature_ok(first, got.headers["vrm-signature"], got.body)
    # a secret sealed for one app does not open as another's
    other = make_vendor(db, name="Thief")
    with pytest.raises(Exception):
        webhooks.open_secret(keys, other.app, db.get(WebhookEndpoint, vendor.app.id))


def test_console_lists_resends_and_sends_a_test_event(app, db, keys, ctx, customer, vendor, other_vendor):
    with receiver(500, 200) as hook:
        hooked(db, keys, vendor, hook.url)
        grant(db, ctx, customer, vendor)
        run(app, ctx, T0)
        [listed] = webhooks.list_deliveries(db, vendor.app.id)
        assert (listed.event_type, listed.state, listed.last_status_code, listed.attempts) == \
            ("consent.granted", "pending", 500, 1)
        again = webhooks.resend(db, vendor.app.id, listed.id, now=T0)
        test_event = webhooks.send_test_event(db, vendor.app.id, now=T0)
        db.commit()
        run(app, ctx, T0)
        with pytest.raises(webhooks.DeliveryNotFound):
            webhooks.resend(db, other_vendor.app.id, listed.id)
        with pytest.raises(webhooks.WebhookError):
            webhooks.send_test_event(db, other_vendor.app.id)  # no endpoint
    db.expire_all()  # the worker wrote through sessions of its own
    views = {v.id: v for v in webhooks.list_deliveries(db, vendor.app.id)}
    assert views[again.id].state == "delivered" and views[again.id].last_status_code == 200
    types = [r.headers["vrm-event-type"] for r in hook.received]
    assert types.count("consent.granted") == 2 and types.count("webhook.test") == 1
    assert test_event.in_feed is False and test_event.subject is None
    assert webhooks.list_deliveries(db, other_vendor.app.id) == []


def test_removing_the_webhook_fails_pending_deliveries_quietly(app, db, keys, ctx, customer, vendor):
    hooked(db, keys, vendor, "https://crm.acme.example/hooks")
    grant(db, ctx, customer, vendor)
    webhooks.remove_webhook(db, vendor.app)
    db.commit()
    run(app, ctx, T0)
    [row] = deliveries(db, vendor)
    assert row.state == "pending" and row.last_error == "No webhook endpoint is set for this app."
    assert webhooks.webhook_endpoint(db, vendor.app.id) is None


def test_event_documents_are_compact_json(db, ctx, customer, vendor):
    g = grant(db, ctx, customer, vendor)
    event = db.scalar(select(AppEvent).where(AppEvent.app_id == vendor.app.id))
    body = webhooks.event_body(event, vendor.client_id)
    assert json.loads(body)["sub"] == g.subject
    assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()


def test_a_stored_url_the_http_library_cannot_parse_is_a_failed_attempt_not_a_stuck_round(
        app, db, keys, ctx, customer, vendor):
    """A URL stored before check_url refused such hosts made urllib3 raise a bare ValueError:
    the round aborted, and the delivery stayed leased and pending, claimed again every lease."""
    with receiver() as hook:
        hooked(db, keys, vendor, hook.url)
    endpoint = db.get(WebhookEndpoint, vendor.app.id)
    endpoint.url = "https://a..com/"
    db.commit()
    grant(db, ctx, customer, vendor)
    run(app, ctx, T0)
    [delivery] = deliveries(db, vendor)
    assert delivery.attempts == 1 and delivery.last_error == "The webhook URL's host name is not valid."
    assert webhooks._send(requests.Session(), "https://a..com/", "s", "e", "t", b"{}", T0).error.endswith(
        "could not reach the endpoint")


def test_a_host_name_that_resolves_into_a_private_network_is_not_called(monkeypatch):
    """check_url judges what is written; a name is judged by what it resolves to when it is sent."""
    resolved = {"crm.acme.example": "10.0.0.5", "hooks.acme.example": "fd00::7", "public.acme.example": "93.184.216.34"}

    def getaddrinfo(host, *_args, **_kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolved[host], 443))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", getaddrinfo)
    posted = []

    class Recorder(requests.Session):
        def post(self, url, **kwargs):
            posted.append(url)
            raise requests.ConnectionError("not on this machine")

    for host in ("crm.acme.example", "hooks.acme.example"):
        outcome = webhooks._send(Recorder(), f"https://{host}/hook", "s", "e", "t", b"{}", T0)
        assert outcome.error == "The webhook URL's host name points into a private network."
    assert posted == []
    outcome = webhooks._send(Recorder(), "https://public.acme.example/hook", "s", "e", "t", b"{}", T0)
    assert posted == ["https://public.acme.example/hook"] and outcome.error.endswith("could not reach the endpoint")
