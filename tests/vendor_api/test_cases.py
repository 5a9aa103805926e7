"""Service cases: references, the thread in the customer's vault, vendor access through the grant,
status rules, escalation on a controllable clock, ratings and the per-vendor report."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from consent import cases, grants, ledger
from consent.cases import CaseMessage, ServiceCase
from tests.conftest import Portal
from tests.vendor_api.conftest import make_vendor
from vault.clock import utcnow
from vendor_api import tokens
from vendor_api.context import consent_context

CASE_SCOPES = ["profile.name", "cases.read", "cases.write"]


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        return consent_context()


@pytest.fixture
def shop(db):
    return make_vendor(db, name="Fix-It", scopes=CASE_SCOPES)


@pytest.fixture
def connected(db, ctx, customer, shop):
    change = grants.grant(db, ctx, customer=customer, app=shop.app, scopes=CASE_SCOPES)
    db.commit()
    return change.grant


def app_token(db, vendor) -> str:
    issued = tokens.issue(db, app_id=vendor.app.id, scope="vendor:read", grant_type="client_credentials")
    db.commit()
    return issued.access_token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def open_one(db, keys, customer, vendor, *, now=None, text_="The kettle leaks."):
    case = cases.open_case(db, keys, customer, vendor.app, category="repair", description=text_, now=now)
    db.commit()
    return case


# --- the customer side --------------------------------------------------------------------------

def test_references_are_readable_and_follow_each_other(db, keys, customer, shop, connected):
    first, second = open_one(db, keys, customer, shop), open_one(db, keys, customer, shop)
    assert re.fullmatch(r"VV-\d{4}-\d{6}", first.reference)
    assert int(second.reference[-6:]) == int(first.reference[-6:]) + 1


def test_the_thread_is_sealed_in_the_customers_vault(db, keys, customer, shop, connected):
    case = open_one(db, keys, customer, shop, text_="distinctive-kettle-words")
    raw = db.execute(text("SELECT body FROM case_messages WHERE case_id = :c"), {"c": case.id}).scalar_one()
    assert b"distinctive-kettle-words" not in bytes(raw)
    assert cases.messages(db, keys, case)[0].text == "distinctive-kettle-words"


def test_a_case_needs_a_live_connection(db, keys, ctx, customer, shop, connected):
    grants.revoke(db, ctx, connected, customer)
    with pytest.raises(cases.CaseConflict):
        open_one(db, keys, customer, shop)


def test_opening_validates_every_field(db, keys, customer, shop, connected):
    with pytest.raises(Exception) as caught:
        cases.open_case(db, keys, customer, shop.app, category="nonsense", priority="asap", description=" ")
    assert set(caught.value.errors) == {"category", "priority", "description"}


def test_the_customer_opens_answers_and_closes_in_the_portal(app, db, customer, shop, connected):
    portal = Portal(app.test_client())
    portal.login(customer.email)
    page = portal.client.get("/me/cases/new").get_data(as_text=True)
    assert shop.app.name in page
    opened = portal.post("/me/cases/new", {"app": shop.client_id, "category": "return", "priority": "high",
                                           "description": "Wrong size, please swap."})
    assert opened.status_code == 303
    path = opened.headers["Location"]
    assert "Wrong size, please swap." in portal.client.get(path).get_data(as_text=True)
    assert portal.post(path, {"action": "reply", "message": "Any news?"}).status_code == 303
    assert portal.post(path, {"action": "close", "rating": "9"}).status_code == 422
    assert portal.post(path, {"action": "close", "rating": "4", "comment": "Quick, thanks"}).status_code == 303
    listing = portal.client.get("/me/cases").get_data(as_text=True)
    assert "Closed" in listing and shop.app.name in listing


def test_the_portal_refuses_bad_input_with_messages_not_errors(app, db, customer, shop, connected):
    portal = Portal(app.test_client())
    portal.login(customer.email)
    response = portal.post("/me/cases/new", {"app": "vv_app_unknown", "category": "repair", "description": "x"})
    assert response.status_code == 422 and "Choose a vendor" in response.get_data(as_text=True)


def test_another_customers_case_is_not_found(app, db, keys, customer, shop, connected):
    from vault.accounts import sign_up
    case = open_one(db, keys, customer, shop)
    sign_up(db, "someone-else@example.com", "correct horse battery staple")
    db.commit()
    other = Portal(app.test_client())
    other.login("someone-else@example.com")
    assert other.client.get(f"/me/cases/{case.reference}").status_code == 404


# --- the vendor side ------------------------------------------------------------------------------

def test_the_vendor_lists_reads_and_answers_through_the_api(client, db, keys, customer, shop, connected):
    case = open_one(db, keys, customer, shop)
    token = app_token(db, shop)
    listed = client.get("/api/v1/cases", headers=bearer(token)).get_json()
    assert [c["reference"] for c in listed["cases"]] == [case.reference]
    assert listed["cases"][0]["sub"] == connected.subject  # the pairwise id, never ours
    one = client.get(f"/api/v1/cases/{case.reference}", headers=bearer(token)).get_json()
    assert one["messages"][0]["text"] == "The kettle leaks."
    answered = client.post(f"/api/v1/cases/{case.reference}/messages", headers=bearer(token),
                           json={"text": "Sending a new one.", "status": "in_progress"})
    assert answered.status_code == 201 and answered.get_json()["status"] == "in_progress"
    db.expire_all()
    assert db.get(ServiceCase, case.id).first_response_at is not None
    kinds = [(e.type, e.data.get("details", {}).get("action")) for e in ledger.entries_for(db, customer.public_id)]
    assert ("read", "view") in kinds and ("write", "reply") in kinds


def test_status_rules_are_enforced(client, db, keys, customer, shop, connected):
    case = open_one(db, keys, customer, shop)
    token = app_token(db, shop)
    closed = client.patch(f"/api/v1/cases/{case.reference}", headers=bearer(token), json={"status": "closed"})
    assert closed.status_code == 409 and closed.mimetype == "application/problem+json"
    bogus = client.patch(f"/api/v1/cases/{case.reference}", headers=bearer(token), json={"status": "teleported"})
    assert bogus.status_code == 422 and "status" in bogus.get_json()["errors"]["json"]
    assert client.patch(f"/api/v1/cases/{case.reference}", headers=bearer(token),
                        json={"status": "resolved"}).status_code == 200


def test_without_cases_scope_or_after_revoke_the_case_is_invisible(client, db, keys, ctx, customer, shop, connected):
    case = open_one(db, keys, customer, shop)
    token = app_token(db, shop)
    grants.narrow(db, ctx, connected, customer, scopes=["profile.name"])
    db.commit()
    assert client.get("/api/v1/cases", headers=bearer(token)).get_json()["cases"] == []
    assert client.get(f"/api/v1/cases/{case.reference}", headers=bearer(token)).status_code == 404


def test_read_only_grants_cannot_answer(client, db, keys, ctx, customer, shop, connected):
    case = open_one(db, keys, customer, shop)
    grants.narrow(db, ctx, connected, customer, scopes=["profile.name", "cases.read"])
    db.commit()
    token = app_token(db, shop)
    assert client.get(f"/api/v1/cases/{case.reference}", headers=bearer(token)).status_code == 200
    assert client.post(f"/api/v1/cases/{case.reference}/messages", headers=bearer(token),
                       json={"text": "hello"}).status_code == 404


def test_another_vendor_never_sees_the_case(client, db, keys, customer, shop, connected):
    case = open_one(db, keys, customer, shop)
    rival = make_vendor(db, name="Rival", scopes=CASE_SCOPES)
    token = app_token(db, rival)
    assert client.get(f"/api/v1/cases/{case.reference}", headers=bearer(token)).status_code == 404
    assert client.get("/api/v1/cases", headers=bearer(token)).get_json()["cases"] == []


def test_a_customer_token_or_none_is_refused(client, db, keys, customer, shop, connected):
    assert client.get("/api/v1/cases").status_code == 401
    issued = tokens.issue(db, app_id=shop.app.id, scope=" ".join(CASE_SCOPES), grant_type="authorization_code",
                          grant=connected)
    db.commit()
    assert client.get("/api/v1/cases", headers=bearer(issued.access_token)).status_code == 403


# --- escalation and reports ---------------------------------------------------------------------

def test_late_cases_are_escalated_once_per_target(db, keys, customer, shop, connected):
    start = utcnow()
    cases.set_targets(db, shop.app, first_response_hours=4, resolution_hours=48, escalation_email="lead@fixit.example")
    case = open_one(db, keys, customer, shop, now=start)
    assert cases.escalate_due(db, now=start + timedelta(hours=3)) == []
    first = cases.escalate_due(db, now=start + timedelta(hours=5))
    assert [(e.case.reference, e.target, e.escalation_email) for e in first] == \
        [(case.reference, "first_response", "lead@fixit.example")]
    assert cases.escalate_due(db, now=start + timedelta(hours=6)) == []  # never twice
    later = cases.escalate_due(db, now=start + timedelta(hours=49))
    assert [e.target for e in later] == ["resolution"]
    db.commit()
    actions = [e.data.get("details", {}).get("action") for e in ledger.entries_for(db, customer.public_id)]
    assert "escalated_first_response" in actions and "escalated_resolution" in actions


def test_the_report_gives_median_first_response_and_on_time_share(db, keys, customer, shop, connected):
    start = utcnow() - timedelta(days=10)
    quick = open_one(db, keys, customer, shop, now=start)
    slow = open_one(db, keys, customer, shop, now=start)
    cases.vendor_reply(db, keys, quick, "On it", status="resolved", now=start + timedelta(hours=2))
    cases.vendor_reply(db, keys, slow, "Sorry for the wait", now=start + timedelta(hours=30))
    cases.vendor_set_status(db, slow, "resolved", now=start + timedelta(days=8))
    cases.close(db, keys, customer, quick, rating=5, now=start + timedelta(hours=3))
    db.commit()
    [row] = [r for r in cases.service_report(db) if r.app_id == shop.app.id]
    assert row.cases == 2 and row.median_first_response_hours == 16.0
    assert row.resolved == 2 and row.resolved_on_time_share == 0.5
    assert row.average_rating == 5.0


def test_erasing_the_customer_removes_their_cases(db, keys, ctx, customer, shop, connected):
    from consent.portability import erase_all
    case_id = open_one(db, keys, customer, shop).id
    erase_all(db, ctx, customer)
    db.commit()
    db.expunge_all()
    assert db.get(ServiceCase, case_id) is None
    assert db.scalar(select(CaseMessage).where(CaseMessage.case_id == case_id)) is None


def test_erasing_the_customer_closes_open_cases_and_tells_their_vendor(db, keys, ctx, customer, shop, connected):
    from consent.portability import erase_all
    chain, subject = customer.public_id, connected.subject
    working = open_one(db, keys, customer, shop, text_="private-erased-story")
    cases.vendor_set_status(db, working, "in_progress")
    done = open_one(db, keys, customer, shop)
    cases.close(db, keys, customer, done, rating=4)
    db.commit()
    erase_all(db, ctx, customer)
    db.commit()
    [told] = [e for e in _events(db, shop.app.id, "case.updated") if e.data["action"] == "account_erased"]
    assert told.subject == subject  # addressed like every other event, before the grant went
    assert told.data["reference"] == working.reference and told.data["status"] == "closed"
    assert "private-erased-story" not in told.data_json
    # the case already closed is not announced again; the vendor heard of the erasure after the case
    types = [e.type for e in _events(db, shop.app.id, "case.updated")]
    assert types == ["case.updated", "case.updated"]  # the customer's own close, then the erasure
    from consent.outbox import AppEvent
    order = [e.type for e in db.scalars(select(AppEvent).where(AppEvent.app_id == shop.app.id)
                                        .order_by(AppEvent.id))]
    assert order[-3:] == ["consent.revoked", "case.updated", "account.erased"]
    entries = [(e.type, e.data.get("details", {}).get("action")) for e in ledger.entries_for(db, chain)]
    assert entries[0][0] == "erase" and ("write", "account_erased") in entries


# --- who is told --------------------------------------------------------------------------------

def _events(db, app_id, type_):
    from consent.outbox import AppEvent
    return db.scalars(select(AppEvent).where(AppEvent.app_id == app_id, AppEvent.type == type_)
                      .order_by(AppEvent.id)).all()


def _customer_notes(db, customer, event):
    from consent.notifications import Notification
    return db.scalars(select(Notification).where(Notification.account_id == customer.id,
                                                 Notification.event == event)).all()


def test_the_vendor_hears_of_a_new_case_by_webhook_without_its_text(db, keys, customer, shop, connected):
    case = open_one(db, keys, customer, shop, text_="private-kettle-story")
    [event] = _events(db, shop.app.id, "case.opened")
    assert event.subject == connected.subject  # the app's pairwise id, never ours
    assert '"reference":"%s"' % case.reference in event.data_json
    assert "private-kettle-story" not in event.data_json


def test_a_vendor_reply_tells_the_customer(db, keys, customer, shop, connected):
    case = open_one(db, keys, customer, shop)
    cases.vendor_reply(db, keys, case, "We will send a new one.", status="in_progress")
    db.commit()
    [note] = _customer_notes(db, customer, "case_updated")
    assert note.params == {"vendor": shop.app.name, "reference": case.reference}


def test_escalation_tells_customer_vendor_software_and_contact_once(db, keys, customer, shop, connected):
    from consent.notifications import Transports, deliver_due
    from tests.mailserver import SmtpServer
    from vault.mail import SmtpMailer
    start = utcnow()
    cases.set_targets(db, shop.app, first_response_hours=4, resolution_hours=48, escalation_email="lead@fixit.example")
    case = open_one(db, keys, customer, shop, now=start)
    cases.escalate_due(db, now=start + timedelta(hours=5))
    cases.escalate_due(db, now=start + timedelta(hours=6))
    db.commit()
    assert len(_customer_notes(db, customer, "case_escalated")) == 1
    [hook] = _events(db, shop.app.id, "case.escalated")
    assert '"action":"escalated_first_response"' in hook.data_json
    with SmtpServer() as smtp:
        transports = Transports(mail=SmtpMailer("127.0.0.1", smtp.port, starttls=False, timeout=5), sms=None,
                                keys=keys, mail_from="no-reply@vault.example", base_url="https://vault.example")
        deliver_due(db, transports, start + timedelta(hours=6))
        to_contact = [m for rcpt, m in smtp.messages if rcpt == ["lead@fixit.example"]]
    assert len(to_contact) == 1
    assert case.reference in to_contact[0]["Subject"] and "overdue" in to_contact[0]["Subject"]


def test_the_worker_round_escalates(app, db, keys, customer, shop, connected):
    cases.set_targets(db, shop.app, first_response_hours=1, resolution_hours=2, escalation_email=None)
    case = open_one(db, keys, customer, shop, now=utcnow() - timedelta(hours=3))
    result = app.test_cli_runner().invoke(args=["vault", "worker", "--once"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert set(db.get(ServiceCase, case.id).escalations) == {"first_response", "resolution"}


def test_vendor_only_events_are_not_offered_in_customer_settings(db, customer):
    from consent import notifications
    assert "case_escalated_vendor" not in notifications.choices(db, customer.id)
    with pytest.raises(ValueError):
        notifications.set_choices(db, customer.id, {"case_escalated_vendor": {"email"}})
