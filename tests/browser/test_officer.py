"""A privacy officer in a real browser: logs in with password and TOTP, finds a vendor's read in
the consent and access log by the customer's pseudonymous id, opens the entry, exports the
filtered log as CSV, and sees the ledger verify. Nothing of the customer's vault appears."""
from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta

import pyotp
import pytest
import requests

from tests.browser.conftest import connect_vendor, make_customer
from tests.conftest import STRONG_PASSWORD
from tests.vendor_api.conftest import PROFILE
from vault.clock import utcnow


@pytest.fixture
def officer(live_server):
    """An officer with TOTP enabled, stored on the live server's database: (email, secret)."""
    from vault import totp
    from vault.accounts import create_officer
    email, secret = f"officer-{secrets.token_hex(4)}@example.com", totp.new_secret()
    db = live_server.db()
    try:
        account = create_officer(db, email, STRONG_PASSWORD)
        earlier = utcnow() - timedelta(seconds=90)  # the login code is then a later time step
        assert totp.enable(db, live_server.app.extensions["vrm"].keys, account, secret,
                           pyotp.TOTP(secret).at(earlier), now=earlier)
        db.commit()
    finally:
        db.close()
    return email, secret


def _vendor_reads(live_server, customer, vendor) -> None:
    """The vendor reads the customer's profile through the API, with a token of its grant."""
    from vendor_api import tokens
    db = live_server.db()
    try:
        from consent.models import Grant
        grant = db.query(Grant).filter_by(account_id=customer.id, app_id=vendor.app.id).one()
        issued = tokens.issue(db, app_id=vendor.app.id, grant=grant, scope=" ".join(grant.scopes),
                              grant_type="authorization_code")
        db.commit()
    finally:
        db.close()
    read = requests.get(f"{live_server.url}/api/v1/me", timeout=10,
                        headers={"Authorization": f"Bearer {issued.access_token}"})
    assert read.status_code == 200, read.text


def test_officer_with_totp_finds_a_vendor_read_and_exports_it(page, live_server, officer):
    customer = make_customer(live_server, f"watched-{secrets.token_hex(4)}@example.com")
    vendor, _grant = connect_vendor(live_server, customer)
    _vendor_reads(live_server, customer, vendor)
    email, secret = officer

    # Password, then the authenticator's code.
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/login/code")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/privacy/")

    # Find the read by the customer's pseudonymous id.
    page.goto("/privacy/")
    page.fill("#customer", customer.public_id)
    page.select_option("#type", "read")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 1
    text = rows.first.inner_text()
    assert vendor.client_id in text or vendor.app.name in text
    assert PROFILE["given_name"] not in page.content()  # names and fields, never values

    # Its detail names the fields read, not their values.
    rows.first.locator("a").first.click()
    page.wait_for_load_state()
    detail = page.locator("main").inner_text()
    assert "given_name" in detail and PROFILE["given_name"] not in detail

    # Export the filtered set.
    page.go_back()
    with page.expect_download() as download:
        page.click("a:has-text('Export as CSV')")
    from pathlib import Path
    content = Path(download.value.path()).read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(content)))
    assert exported and all(row_has(r, customer.public_id) for r in exported)
    assert any("read" in r.values() for r in exported)
    assert PROFILE["given_name"] not in content

    # And the whole ledger verifies.
    page.goto("/privacy/integrity")
    assert "verifies" in page.locator("main").inner_text()


def row_has(row: dict, value: str) -> bool:
    return any(value == v for v in row.values())
