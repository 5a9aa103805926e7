"""Notifications: what is written when, what arrives through a real SMTP server, and when.

The mail server is aiosmtpd on 127.0.0.1, started by the tests; the clock is an argument.
"""
from __future__ import annotations

import http.server
import json
import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from consent import grants, notifications
from consent.notifications import Delivery, Notification, Transports
from consent.notifications.catalogue import EVENTS, render
from consent.notifications.outbox import backoff, claim_due
from consent.notifications.quiet import quiet_until
from tests.consent.conftest import make_app
from tests.mailserver import SmtpServer, free_port
from vault import records
from vault.config import Settings
from vault.mail import FileOutbox, SmtpMailer, mailer_for
from vault.sms import HttpSmsGateway, LogSmsGateway, SmsError, mask_number

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
PHONE = "+447700900123"


class RecordingSms:
    """Stands in for the phone network (external), not for our storage."""

    def __init__(self):
        self.sent = []

    def send(self, number, text, *, message_id):
        self.sent.append((number, text, message_id))


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def sms():
    return RecordingSms()


@pytest.fixture
def transports(smtp, sms, keys):
    return Transports(mail=SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5), sms=sms, keys=keys,
                      mail_from="VRM Vault <no-reply@vault.example>", base_url="https://vault.example")


def _connect(db, ctx, customer, app, now=T0, term_days=90):
    return grants.grant(db, ctx, customer=customer, app=app, scopes=["profile.name"], term_days=term_days,
                        now=now).grant


def _deliveries(db, account_id):
    return db.scalars(select(Delivery).join(Notification).where(Notification.account_id == account_id)
                      .order_by(Delivery.id)).all()


# -- what notify writes --------------------------------------------------------------------

def test_a_new_connection_writes_a_portal_item_and_an_email_by_default(db, ctx, customer, vendor_app):
    grant = _connect(db, ctx, customer, vendor_app)
    items = notifications.list_for(db, customer.id)
    assert [(n.event, n.params) for n in items] == [
        ("vendor_connected", {"vendor": vendor_app.name, "grant": grant.public_id})]
    assert [(d.channel, d.state) for d in _deliveries(db, customer.id)] == [("email", "pending")]
    assert notifications.unread_count(db, customer.id) == 1


def test_revoke_and_expiry_notify_but_narrowing_does_not(db, ctx, customer, vendor_app, other_app):
    grant = _connect(db, ctx, customer, vendor_app)
    grants.narrow(db, ctx, grant, customer, fields=["given_name"], now=T0)
    grants.revoke(db, ctx, grant, customer, now=T0)
    _connect(db, ctx, customer, other_app, term_days=30)
    grants.expire_due(db, ctx, now=T0 + timedelta(days=31))
    events = [n.event for n in reversed(notifications.list_for(db, customer.id))]
    assert events == ["vendor_connected", "grant_revoked", "vendor_connected", "grant_expired"]


def test_a_rolled_back_change_leaves_no_notification(db, ctx, customer, vendor_app):
    db.commit()
    _connect(db, ctx, customer, vendor_app)
    db.rollback()
    assert notifications.list_for(db, customer.id) == []


def test_unknown_events_and_missing_params_are_refused(db, customer):
    with pytest.raises(ValueError):
        notifications.notify(db, account=customer, event="nope", params={}, now=T0)
    with pytest.raises(ValueError):
        notifications.notify(db, account=customer, event="case_updated", params={"vendor": "X"}, now=T0)
    with pytest.raises(ValueError):
        notifications.set_choices(db, customer.id, {"case_updated": {"pigeon"}})


def test_every_event_reads_in_english_and_arabic():
    for event_id, event in EVENTS.items():
        params = {p: f"<{p}>" for p in event.params}
        en, ar = render(event_id, params, "en"), render(event_id, params, "ar")
        assert en.subject != ar.subject and en.body != ar.body
        assert all(f"<{p}>" in en.body + en.subject + (en.link or "") for p in event.params)
    assert render("grant_expiring", {"vendor": "V", "grant": "g_1", "date": "d"}, "fr").subject.startswith("Your")


# -- mail through a real SMTP server ---------------------------------------------------------

def test_the_email_arrives_in_english(db, ctx, customer, vendor_app, smtp, transports):
    grant = _connect(db, ctx, customer, vendor_app)
    db.commit()
    outcome = notifications.deliver_due(db, transports, T0)
    assert outcome.sent == 1
    [(rcpt, message)] = smtp.messages
    assert rcpt == [customer.email]
    assert message["Subject"] == f"{vendor_app.name} is now connected to your vault"
    body = message.get_content()
    assert "If this was not you, withdraw the consent" in body
    assert f"https://vault.example/me/connections/{grant.public_id}" in body
    assert "https://vault.example/me/notifications/settings" in body
    notification = notifications.list_for(db, customer.id)[0]
    assert message["Message-ID"] == f"<{notification.public_id}.email@vault.example>"
    assert [d.state for d in _deliveries(db, customer.id)] == ["sent"]


def test_the_email_arrives_in_arabic(db, ctx, customer, vendor_app, smtp, transports):
    customer.locale = "ar"
    _connect(db, ctx, customer, vendor_app)
    grants.revoke(db, ctx, grants.find(db, customer.id, vendor_app.id), customer, now=T0)
    db.commit()
    notifications.deliver_due(db, transports, T0)
    subjects = sorted(m["Subject"] for _r, m in smtp.messages)
    assert subjects == sorted([f"أصبحت {vendor_app.name} مرتبطة بخزنتك", f"سُحبت الموافقة الممنوحة لـ {vendor_app.name}"])
    body = smtp.messages[0][1].get_content()
    assert "خزنتك" in body and "إعدادات التنبيهات" in body
    assert smtp.messages[0][1]["Content-Language"] == "ar"


def test_delivered_once_across_two_runs(db, ctx, customer, vendor_app, smtp, transports):
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    first = notifications.deliver_due(db, transports, T0)
    second = notifications.deliver_due(db, transports, T0 + timedelta(hours=1))
    assert (first.sent, second.sent) == (1, 0)
    assert len(smtp.messages) == 1


def test_a_refused_mail_is_retried_with_backoff_then_sent_once(db, ctx, customer, vendor_app, smtp, transports):
    smtp.refuse.append("451 4.3.0 Try again later")
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    outcome = notifications.deliver_due(db, transports, T0)
    assert (outcome.sent, outcome.retrying) == (0, 1)
    [row] = _deliveries(db, customer.id)
    db.refresh(row)
    assert (row.state, row.attempts, row.last_error, row.due_at) == ("pending", 1, "SMTP 451", T0 + backoff(1))
    assert notifications.deliver_due(db, transports, T0 + timedelta(seconds=30)).sent == 0  # not yet due
    assert notifications.deliver_due(db, transports, T0 + backoff(1)).sent == 1
    assert len(smtp.messages) == 1
    db.refresh(row)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)


def test_a_permanent_refusal_fails_without_retrying(db, ctx, customer, vendor_app, smtp, transports):
    smtp.refuse.append("550 5.1.1 No such mailbox")
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    assert notifications.deliver_due(db, transports, T0).failed == 1
    assert notifications.deliver_due(db, transports, T0 + timedelta(days=1)).sent == 0
    assert [d.state for d in _deliveries(db, customer.id)] == ["failed"]


def test_an_unreachable_server_is_retried(db, ctx, customer, vendor_app, keys, sms):
    down = Transports(mail=SmtpMailer("127.0.0.1", free_port(), starttls=False, timeout=2), sms=sms, keys=keys,
                      mail_from="no-reply@vault.example")
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    assert notifications.deliver_due(db, down, T0).retrying == 1


def test_mail_to_an_address_without_account(db, smtp, transports):
    notifications.notify_address(db, email="gone@example.com", event="deletion_confirmed",
                                 params={"vendor": "Acme", "date": "2026-03-10"}, locale="ar", now=T0)
    db.commit()
    assert notifications.deliver_due(db, transports, T0).sent == 1
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["gone@example.com"] and message["Subject"] == "أكّدت Acme حذف بياناتك"


# -- channel choices -------------------------------------------------------------------------

def test_channel_choices_are_honoured(db, keys, ctx, customer, vendor_app, other_app, smtp, sms, transports):
    records.write_fields(db, keys, customer, {"phones": [{"number": "+33612345678", "label": "work"},
                                                         {"number": PHONE, "label": "mobile"}]})
    defaults = notifications.choices(db, customer.id)
    assert defaults["grant_revoked"] == {"portal", "email"} and defaults["case_updated"] == {"portal"}
    notifications.set_choices(db, customer.id, {"vendor_connected": {"sms"}, "grant_revoked": set()}, now=T0)
    grant = _connect(db, ctx, customer, vendor_app)
    grants.revoke(db, ctx, grant, customer, now=T0)
    db.commit()
    outcome = notifications.deliver_due(db, transports, T0)
    assert outcome.sent == 1
    assert smtp.messages == []  # email turned off for both events
    [(number, text, message_id)] = sms.sent
    assert number == PHONE and vendor_app.name in text and message_id.endswith(".sms")
    assert [n.event for n in notifications.list_for(db, customer.id)] == ["grant_revoked", "vendor_connected"]


def test_sms_off_means_no_sms(db, keys, ctx, customer, vendor_app, sms, transports):
    records.write_fields(db, keys, customer, {"phones": [{"number": PHONE, "label": "mobile"}]})
    notifications.set_choices(db, customer.id, {"vendor_connected": {"email"}})
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    notifications.deliver_due(db, transports, T0)
    assert sms.sent == [] and [d.channel for d in _deliveries(db, customer.id)] == ["email"]


def test_an_sms_without_a_phone_number_is_skipped(db, ctx, customer, vendor_app, sms, transports):
    notifications.set_choices(db, customer.id, {"vendor_connected": {"sms"}})
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    assert notifications.deliver_due(db, transports, T0).skipped == 1
    assert sms.sent == []


# -- quiet hours -----------------------------------------------------------------------------

@pytest.mark.parametrize("quiet, now, until", [
    # Riyadh is UTC+3: 23:00 local is inside 22:00-07:00, which ends at 04:00 UTC the next day.
    ({"start": "22:00", "end": "07:00", "timezone": "Asia/Riyadh"},
     datetime(2026, 3, 10, 20, 0, tzinfo=timezone.utc), datetime(2026, 3, 11, 4, 0, tzinfo=timezone.utc)),
    # 02:00 local, after midnight: the window ends the same local day.
    ({"start": "22:00", "end": "07:00", "timezone": "Asia/Riyadh"},
     datetime(2026, 3, 10, 23, 0, tzinfo=timezone.utc), datetime(2026, 3, 11, 4, 0, tzinfo=timezone.utc)),
    # New York in summer is UTC-4: 13:00 UTC is 09:00 local, inside 08:00-18:00.
    ({"start": "08:00", "end": "18:00", "timezone": "America/New_York"},
     datetime(2026, 7, 1, 13, 0, tzinfo=timezone.utc), datetime(2026, 7, 1, 22, 0, tzinfo=timezone.utc)),
    # ... and in winter UTC-5: the same window ends an hour later in UTC.
    ({"start": "08:00", "end": "18:00", "timezone": "America/New_York"},
     datetime(2026, 1, 15, 13, 0, tzinfo=timezone.utc), datetime(2026, 1, 15, 23, 0, tzinfo=timezone.utc)),
    # Outside the window, unreadable windows: no wait.
    ({"start": "22:00", "end": "07:00", "timezone": "Asia/Riyadh"}, T0, None),
    ({"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}, T0, None),
    (None, T0, None),
])
def test_quiet_window(quiet, now, until):
    assert quiet_until(now, quiet) == until


def test_quiet_hours_defer_email_and_sms_to_the_end_of_the_window(db, keys, ctx, customer, vendor_app, smtp,
                                                                 sms, transports):
    records.write_fields(db, keys, customer, {
        "phones": [{"number": PHONE, "label": "mobile"}],
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Riyadh"}})
    notifications.set_choices(db, customer.id, {"vendor_connected": {"email", "sms"}})
    night = datetime(2026, 3, 10, 20, 0, tzinfo=timezone.utc)  # 23:00 in Riyadh
    morning = datetime(2026, 3, 11, 4, 0, tzinfo=timezone.utc)  # 07:00 in Riyadh
    _connect(db, ctx, customer, vendor_app, now=night)
    db.commit()
    assert notifications.unread_count(db, customer.id) == 1  # the portal item is there at once
    assert notifications.deliver_due(db, transports, night).deferred == 2
    rows = _deliveries(db, customer.id)
    for row in rows:
        db.refresh(row)
    assert [(r.state, r.due_at, r.attempts) for r in rows] == [("pending", morning, 0)] * 2
    assert notifications.deliver_due(db, transports, morning - timedelta(minutes=1)).sent == 0
    assert smtp.messages == [] and sms.sent == []
    assert notifications.deliver_due(db, transports, morning).sent == 2
    assert len(smtp.messages) == 1 and len(sms.sent) == 1


# -- the expiry scan -------------------------------------------------------------------------

def test_expiring_grants_are_announced_once_per_expiry(db, ctx, customer, vendor_app, other_app, smtp, transports):
    grant = _connect(db, ctx, customer, vendor_app, term_days=30)
    _connect(db, ctx, customer, other_app, term_days=90)  # far from expiry
    assert notifications.scan_expiring(db, T0 + timedelta(days=22)) == []  # 8 days left
    first = notifications.scan_expiring(db, T0 + timedelta(days=23))
    assert [(n.event, n.params["grant"]) for n in first] == [("grant_expiring", grant.public_id)]
    assert first[0].params["date"] == (T0 + timedelta(days=30)).date().isoformat()
    assert notifications.scan_expiring(db, T0 + timedelta(days=23)) == []
    assert notifications.scan_expiring(db, T0 + timedelta(days=29)) == []
    db.commit()
    notifications.deliver_due(db, transports, T0 + timedelta(days=23))
    expiring = [m for _r, m in smtp.messages if "ends on" in m["Subject"]]
    assert len(expiring) == 1
    assert f"https://vault.example/me/notifications/renew/{grant.public_id}" in expiring[0].get_content()
    # Renewed, it expires again later, and that expiry is announced in its turn.
    grants.renew(db, ctx, grant, customer, term_days=30, now=T0 + timedelta(days=25))
    assert len(notifications.scan_expiring(db, T0 + timedelta(days=50))) == 1


def test_the_scan_skips_revoked_and_expired_grants(db, ctx, customer, vendor_app):
    grant = _connect(db, ctx, customer, vendor_app, term_days=30)
    grants.revoke(db, ctx, grant, customer, now=T0)
    assert notifications.scan_expiring(db, T0 + timedelta(days=25)) == []
    assert notifications.scan_expiring(db, T0 + timedelta(days=40)) == []


# -- claims ----------------------------------------------------------------------------------

def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(db, ctx, customer, vendor_app):
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    claim, ids = claim_due(db, T0)
    assert len(ids) == 1
    assert claim_due(db, T0)[1] == []
    # The first claimer died: after the lease, another worker takes over, and the late first
    # claimer can no longer mark it.
    later_claim, later_ids = claim_due(db, T0 + timedelta(minutes=6))
    assert later_ids == ids and later_claim != claim
    from consent.notifications.outbox import _complete
    assert not _complete(db, ids[0], claim, state="sent", sent_at=T0)
    assert _complete(db, ids[0], later_claim, state="sent", sent_at=T0)


# -- the local outbox, the SMS adapters, the logs --------------------------------------------

def test_without_an_smtp_host_mail_goes_to_eml_files(db, ctx, customer, vendor_app, sms, keys, tmp_path):
    settings = Settings.load(environ={}, overrides={"instance_path": tmp_path})
    mailer = mailer_for(settings)
    assert isinstance(mailer, FileOutbox) and mailer.folder == tmp_path / "outbox"
    files = Transports(mail=mailer, sms=sms, keys=keys, mail_from="no-reply@vault.example")
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    assert notifications.deliver_due(db, files, T0).sent == 1
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    assert eml.stat().st_mode & 0o777 == 0o600
    assert f"is now connected to your vault" in eml.read_text()
    # A retry of the same message (a crash before it was marked sent) replaces its own file.
    [row] = _deliveries(db, customer.id)
    db.refresh(row)
    row.state = "pending"
    db.commit()
    notifications.deliver_due(db, files, T0)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert isinstance(mailer_for(settings.with_(smtp_host="mail.example")), SmtpMailer)


def test_settings_refuse_an_http_gateway_without_url_or_key():
    from vault.errors import ConfigError
    with pytest.raises(ConfigError):
        Settings.load(environ={"VAULT_SMS_GATEWAY": "http"})
    with pytest.raises(ConfigError):
        Settings.load(environ={"VAULT_SMS_GATEWAY": "pigeon"})


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 202

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers["Authorization"], self.headers["Idempotency-Key"], body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_http_sms_adapter_posts_json_with_a_bearer_key():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        gateway = HttpSmsGateway(f"http://127.0.0.1:{server.server_port}/sms", "k-123", timeout=5)
        gateway.send(PHONE, "hello", message_id="n_1.sms")
        assert _Gateway.received[-1] == ("Bearer k-123", "n_1.sms", {"to": PHONE, "text": "hello", "reference": "n_1.sms"})
        _Gateway.status = 503
        with pytest.raises(SmsError) as failed:
            gateway.send(PHONE, "hello", message_id="n_1.sms")
        assert failed.value.transient
        _Gateway.status = 400
        with pytest.raises(SmsError) as refused:
            gateway.send(PHONE, "hello", message_id="n_1.sms")
        assert not refused.value.transient
    finally:
        _Gateway.status = 202
        server.shutdown()
        server.server_close()


def test_logs_hold_no_address_number_or_text(db, keys, ctx, customer, vendor_app, smtp, caplog):
    records.write_fields(db, keys, customer, {"phones": [{"number": PHONE, "label": "mobile"}]})
    notifications.set_choices(db, customer.id, {"vendor_connected": {"email", "sms"}})
    logged = Transports(mail=SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5), sms=LogSmsGateway(),
                        keys=keys, mail_from="no-reply@vault.example")
    _connect(db, ctx, customer, vendor_app)
    db.commit()
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="vault"):
        assert notifications.deliver_due(db, logged, T0).sent == 2
    # Ours only: the test SMTP server (aiosmtpd, "mail.log") logs the envelope itself.
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    assert mask_number(PHONE) in text and PHONE not in text
    assert customer.email not in text and "connected to your vault" not in text and vendor_app.name not in text


def test_concurrent_workers_send_each_message_once(fresh_database, keys, sms):
    """Two workers on their own connections, really committing, racing over the same outbox."""
    from consent.notifications import notify
    from vault import keyops, login_emails, migrate
    from vault.accounts import sign_up
    from vault.db import make_engine, make_session_factory

    engine = make_engine(fresh_database.url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        emails = login_emails.LoginEmails(keyops.system_key(conn, keys, login_emails.KEY_NAME))
    sessions = make_session_factory(engine, info={login_emails.SESSION_INFO_KEY: emails})
    with sessions() as db:
        account = sign_up(db, "race@example.com", "correct horse battery staple")
        for i in range(30):
            notify(db, account=account, event="case_updated", params={"vendor": "V", "reference": f"VV-{i}"},
                   now=T0)
        db.commit()
        notifications.set_choices(db, account.id, {"case_updated": {"email"}})
        db.commit()
    with sessions() as db:  # the choice came after: give those items an email row each
        for n in db.scalars(select(Notification)):
            db.add(Delivery(notification_id=n.id, channel="email", due_at=T0))
        db.commit()

    sent, lock = [], threading.Lock()

    class Mail:
        def send(self, message):
            with lock:
                sent.append(message["Message-ID"])

    outbox = Transports(mail=Mail(), sms=sms, keys=keys, mail_from="no-reply@vault.example")
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            with sessions() as db:
                barrier.wait()
                notifications.deliver_due(db, outbox, T0, limit=5)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    engine.dispose()
    assert errors == []
    assert len(sent) == 30 and len(set(sent)) == 30


# -- a vendor reading more than usual ----------------------------------------------------------

def _reads(db, customer, app, n, start, step=timedelta(minutes=1)):
    from consent import ledger
    for i in range(n):
        ledger.append(db, type="read", actor=app.client_id, actor_role="vendor", chain=customer.public_id,
                      vendor_app=app.client_id, scopes=["profile.name"], fields=["given_name"],
                      details={"endpoint": "me"}, now=start + i * step)


def test_a_jump_in_reads_is_told_once_a_day(db, ctx, customer, vendor_app):
    from consent.notifications.service import scan_read_jumps
    _connect(db, ctx, customer, vendor_app, now=T0 - timedelta(days=40))
    _reads(db, customer, vendor_app, 27, T0 - timedelta(days=28), step=timedelta(days=1))  # ~1 a day, usually
    assert scan_read_jumps(db, T0) == []
    _reads(db, customer, vendor_app, 30, T0 - timedelta(hours=3))  # 30 in the last day
    [note] = scan_read_jumps(db, T0)
    assert note.event == "read_volume_jump" and note.params["count"] == 30 and note.params["usual"] == 1
    assert scan_read_jumps(db, T0 + timedelta(hours=1)) == []  # once a day per connection


def test_steady_heavy_reading_is_not_a_jump(db, ctx, customer, vendor_app):
    from consent.notifications.service import scan_read_jumps
    _connect(db, ctx, customer, vendor_app, now=T0 - timedelta(days=40))
    _reads(db, customer, vendor_app, 28 * 25, T0 - timedelta(days=28), step=timedelta(hours=24 / 25))
    assert scan_read_jumps(db, T0) == []
