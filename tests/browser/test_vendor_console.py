"""A vendor retires an app in the console, in Chromium: the "are you sure?" dialog guards the
button (dismissing it changes nothing), accepting it retires the app at once, and the customer
then finds the consent ended in the portal."""
from __future__ import annotations

import secrets

import requests

from tests.browser.conftest import connect_vendor, log_in, make_customer
from tests.conftest import STRONG_PASSWORD


def _vendor_owner_of(live_server, client_id: str) -> str:
    """A console account that owns the organisation of ``client_id``; returns its email."""
    from consent.models import VendorApp, VendorMember
    from sqlalchemy import select
    from vault.accounts import sign_up
    email = f"owner-{secrets.token_hex(4)}@shop.example"
    db = live_server.db()
    try:
        account = sign_up(db, email, STRONG_PASSWORD, role="vendor")
        org_id = db.scalar(select(VendorApp.org_id).where(VendorApp.client_id == client_id))
        db.add(VendorMember(org_id=org_id, account_id=account.id, role="owner"))
        db.commit()
        return email
    finally:
        db.close()


def _read(live_server, token: str) -> int:
    return requests.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code


def test_retiring_an_app_asks_first_then_ends_everything(browser, live_server):
    from consent import grants
    from vendor_api import tokens
    from vendor_api.cli import demo_context

    customer_email = f"retire-{secrets.token_hex(4)}@example.com"
    customer = make_customer(live_server, customer_email)
    vendor, grant_id = connect_vendor(live_server, customer, scopes=("profile.name",))
    db = live_server.db()
    try:
        token = tokens.issue(db, app_id=vendor.app.id, scope="profile.name", grant_type="authorization_code",
                             grant=grants.get_for_customer(db, customer.id, grant_id)).access_token
        db.commit()
    finally:
        db.close()
    assert _read(live_server, token) == 200
    owner_email = _vendor_owner_of(live_server, vendor.client_id)

    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        log_in(page, owner_email)
        page.goto(f"/console/apps/{vendor.client_id}")
        button = page.get_by_role("button", name="Retire the app")

        # Dismissed: the form is not sent.
        seen = []
        page.once("dialog", lambda dialog: (seen.append(dialog.message), dialog.dismiss()))
        button.click()
        page.wait_for_timeout(300)
        assert seen and "for good" in seen[0]
        assert page.url.endswith(f"/console/apps/{vendor.client_id}")
        assert _read(live_server, token) == 200

        # Accepted: retired at once.
        page.once("dialog", lambda dialog: dialog.accept())
        button.click()
        page.wait_for_load_state()
        assert "is retired" in page.locator(".flash").first.inner_text()
        assert "Retired on" in page.locator("main").inner_text()
        assert page.get_by_role("button", name="Retire the app").count() == 0
        assert _read(live_server, token) == 401

        # The worker ends the grant; the customer sees the consent withdrawn, by the vendor.
        db = live_server.db()
        try:
            assert len(grants.end_for_retired_apps(db, demo_context(live_server.app.extensions["vrm"]))) == 1
            db.commit()
        finally:
            db.close()
        customer_page = browser.new_context(base_url=live_server.url, locale="en-GB").new_page()
        try:
            log_in(customer_page, customer_email)
            customer_page.goto(f"/me/connections/{grant_id}")
            text = customer_page.locator("main").inner_text()
            assert "ended: Demo Books Ltd retired this app" in text, text[:1500]
        finally:
            customer_page.context.close()
    finally:
        context.close()
