"""The portal's notification centre: the list and its unread count, mark read, channel choices,
the one-click renew page, and the CLI round that sends the outbox."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from consent import grants, notifications
from consent.notifications import Delivery, Notification
from tests.conftest import STRONG_PASSWORD, Portal
from tests.consent.conftest import make_app
from vault.accounts import sign_up
from vault.clock import utcnow


@pytest.fixture
def ctx(app):
    from vendor_api.context import consent_context
    with app.test_request_context():
        return consent_context()


@pytest.fixture
def shop(db):
    return make_app(db, name="Corner Books")


@pytest.fixture
def logged_in(portal, customer):
    portal.login(customer.email)
    return portal


def _case(db, account, reference="VV-2026-000001"):
    return notifications.notify(db, account=account, event="case_updated",
                                params={"vendor": "Corner Books", "reference": reference}, now=utcnow())


def _page(portal, path="/me/notifications"):
    response = portal.client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_centre_lists_items_and_the_nav_counts_unread(db, ctx, customer, shop, logged_in):
    grants.grant(db, ctx, customer=customer, app=shop, scopes=["profile.name"])
    _case(db, customer)
    db.commit()
    html = _page(logged_in)
    assert "Corner Books is now connected to your vault" in html
    assert "Your case VV-2026-000001 with Corner Books was updated" in html
    assert 'href="/me/cases/VV-2026-000001"' in html
    assert re.search(r'Notifications <span class="badge count">2<', html)


def test_the_centre_speaks_the_customers_language(db, customer, logged_in):
    customer.locale = "ar"
    _case(db, customer)
    db.commit()
    html = _page(logged_in)
    assert "تحديث على طلبك VV-2026-000001 لدى Corner Books" in html


def test_mark_one_and_all_as_read(db, customer, logged_in):
    first, second, third = (_case(db, customer, f"VV-2026-00000{i}") for i in range(3))
    db.commit()
    path = f"/me/notifications/{first.public_id}/read"
    response = logged_in.post(path, {}, form_path="/me/notifications")
    assert response.status_code == 303
    assert notifications.unread_count(db, customer.id) == 2
    db.refresh(first)
    assert first.read_at is not None
    assert logged_in.post("/me/notifications/read-all", {}, form_path="/me/notifications").status_code == 303
    assert notifications.unread_count(db, customer.id) == 0
    assert "badge count" not in _page(logged_in)


def test_marking_needs_csrf_and_ones_own_item(db, customer, logged_in):
    other = sign_up(db, "other-notified@example.com", STRONG_PASSWORD)
    theirs = _case(db, other)
    mine = _case(db, customer)
    db.commit()
    assert logged_in.client.post(f"/me/notifications/{mine.public_id}/read").status_code == 400
    assert logged_in.post(f"/me/notifications/{theirs.public_id}/read", {},
                          form_path="/me/notifications").status_code == 404
    assert logged_in.post("/me/notifications/n_nope/read", {}, form_path="/me/notifications").status_code == 404
    assert notifications.unread_count(db, other.id) == 1 and notifications.unread_count(db, customer.id) == 1


def test_only_customers_see_the_centre(db, portal):
    from vault.accounts import create_officer
    officer = create_officer(db, "officer-notify@example.com", STRONG_PASSWORD)
    db.commit()
    portal.login(officer.email)
    assert portal.client.get("/me/notifications").status_code == 403
    assert portal.client.get("/me/notifications/settings").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/me/notifications")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_channel_choices_are_shown_and_saved(db, customer, logged_in):
    html = _page(logged_in, "/me/notifications/settings")
    assert re.search(r'id="email-grant_revoked"[^>]*checked', html)  # security events: email by default
    assert not re.search(r'id="email-case_updated"[^>]*checked', html)
    assert 'for="sms-case_updated"' in html
    response = logged_in.post("/me/notifications/settings",
                              {"email": ["case_updated", "not_an_event"], "sms": ["case_updated", "grant_expiring"]},
                              form_path="/me/notifications/settings")
    assert response.status_code == 303
    chosen = notifications.choices(db, customer.id)
    assert chosen["case_updated"] == {"portal", "email", "sms"}
    assert chosen["grant_expiring"] == {"portal", "sms"}
    assert chosen["grant_revoked"] == {"portal"}  # unticked: off
    _case(db, customer)
    db.flush()
    rows = db.scalars(select(Delivery.channel).join(Notification)
                      .where(Notification.account_id == customer.id).order_by(Delivery.channel)).all()
    assert rows == ["email", "sms"]


def test_the_renew_link_renews_with_one_click(db, ctx, customer, shop, logged_in):
    grant = grants.grant(db, ctx, customer=customer, app=shop, scopes=["profile.name"], term_days=30,
                         now=utcnow() - timedelta(days=25)).grant
    db.commit()
    [expiring] = notifications.scan_expiring(db, utcnow())
    db.commit()
    link = notifications.render(expiring.event, expiring.params, "en").link
    html = _page(logged_in, link)
    assert "Renew your consent for Corner Books" in html and 'name="term" value="30"' in html
    response = logged_in.post(f"/me/connections/{grant.public_id}/renew", {"term": "30"}, form_path=link)
    assert response.status_code == 303
    db.refresh(grant)
    assert grant.expires_at > utcnow() + timedelta(days=29)


def test_the_renew_page_of_another_customers_grant_is_not_found(db, ctx, shop, logged_in):
    other = sign_up(db, "other-renew@example.com", STRONG_PASSWORD)
    grant = grants.grant(db, ctx, customer=other, app=shop, scopes=["profile.name"]).grant
    db.commit()
    assert logged_in.client.get(f"/me/notifications/renew/{grant.public_id}").status_code == 404


def test_the_cli_round_writes_mail_to_the_local_outbox(app, db, customer):
    """No SMTP host is configured in the tests: mail lands as .eml files under the instance folder."""
    notified = notifications.notify(db, account=customer, event="grant_revoked",
                                    params={"vendor": "Corner Books", "grant": "g_x"}, now=utcnow())
    db.commit()
    result = app.test_cli_runner().invoke(args=["vault", "notify", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    outbox = app.extensions["vrm"].settings.instance_path / "outbox"
    [eml] = [p for p in outbox.glob("*.eml") if notified.public_id in p.name]
    assert "Consent for Corner Books was withdrawn" in eml.read_text()
    again = app.test_cli_runner().invoke(args=["vault", "notify", "--once"])
    assert "0 sent" in again.output


def test_the_worker_round_sends_notifications_too(app, db, customer):
    notified = notifications.notify(db, account=customer, event="grant_revoked",
                                    params={"vendor": "Corner Books", "grant": "g_y"}, now=utcnow())
    db.commit()
    result = app.test_cli_runner().invoke(args=["vault", "worker", "--once"])
    assert result.exit_code == 0, result.output
    outbox = app.extensions["vrm"].settings.instance_path / "outbox"
    assert [p for p in outbox.glob("*.eml") if notified.public_id in p.name]
