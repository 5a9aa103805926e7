"""A customer's whole journey in a real browser against the app served on 127.0.0.1.

Sign up, fill the profile, connect a vendor through the OAuth consent screen (unticking one
scope), watch the vendor's read land in the connection's access history, revoke with one click
and a confirmation, and see the vendor's next call refused. Also: Arabic pages are right-to-left.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.conftest import STRONG_PASSWORD
from tests.browser.conftest import log_in, make_customer

REQUESTED = ("profile.name", "profile.email", "address.shipping", "preferences.interests")
UNTICKED = "address.shipping"


@pytest.fixture
def demo_vendor(live_server):
    """The demo vendor app, registered with a loopback callback on the live server itself."""
    from vendor_api import clients
    db = live_server.db()
    try:
        org = clients.create_org(db, name="Demo Books Ltd", website="https://books.example",
                                 contact_email="privacy@books.example")
        app, _client, secret = clients.register_app(
            db, org=org, name=f"Demo Books {secrets.token_hex(2)}", website="https://books.example",
            purpose="Deliver your orders, and recommend books you may like.", scopes=REQUESTED,
            redirect_uris=[f"{live_server.url}/callback"])
        db.commit()
        return {"client_id": app.client_id, "secret": secret, "name": app.name,
                "redirect_uri": f"{live_server.url}/callback"}
    finally:
        db.close()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def connect_through_consent_screen(page, live_server, vendor) -> dict:
    """Runs the authorization code flow: the browser decides, the vendor's backend exchanges."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = urlencode({"response_type": "code", "client_id": vendor["client_id"],
                       "redirect_uri": vendor["redirect_uri"], "scope": " ".join(REQUESTED),
                       "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    page.goto(f"/oauth/authorize?{query}")
    assert page.locator("h1").inner_text().startswith(vendor["name"])
    page.uncheck(f"[id='share-{UNTICKED}']")
    page.click("button[name=decision][value=approve]")
    # The browser follows the 303 to the vendor's loopback callback (a 404 page of the live
    # server, which plays no vendor): the code is in the address bar.
    page.wait_for_url(lambda url: url.startswith(vendor["redirect_uri"] + "?"))
    params = parse_qs(urlsplit(page.url).query)
    assert params["state"] == [state]
    token = requests.post(f"{live_server.url}/oauth/token", auth=(vendor["client_id"], vendor["secret"]),
                          data={"grant_type": "authorization_code", "code": params["code"][0],
                                "redirect_uri": vendor["redirect_uri"], "code_verifier": verifier},
                          timeout=10)
    assert token.status_code == 200, token.text
    body = token.json()
    assert UNTICKED not in body["scope"].split()
    return body


def test_customer_signs_up_connects_a_vendor_sees_its_read_and_revokes(page, live_server, demo_vendor):
    email = f"journey-{secrets.token_hex(4)}@example.com"
    page.goto("/signup")
    page.fill("#email", email)
    page.fill("#password", STRONG_PASSWORD)
    page.fill("#password_confirm", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/me/profile$"))

    page.fill("#given_name", "Layla")
    page.fill("#family_name", "Mansour")
    page.fill("#emails-0-address", "layla@example.org")
    page.fill("#address_shipping-line1", "4 Cedar Road")
    page.fill("#address_shipping-city", "Bristol")
    page.fill("#address_shipping-postal_code", "BS1 5TR")
    page.fill("#address_shipping-country", "GB")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#given_name").input_value() == "Layla"
    assert page.locator(".flash.error").count() == 0

    token = connect_through_consent_screen(page, live_server, demo_vendor)

    # The vendor reads: only what was ticked comes back; the unticked address is absent.
    api = requests.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"},
                       timeout=10)
    assert api.status_code == 200, api.text
    me = api.json()
    assert me["given_name"] == "Layla" and me["family_name"] == "Mansour"
    assert "address_shipping" not in me

    # The customer sees that read in the connection's access history.
    page.goto("/me/connections")
    page.click(f"a:has-text('{demo_vendor['name']}')")
    history = page.locator("table.history")
    assert "Read by the vendor" in history.inner_text()
    assert "Given name" in history.inner_text()

    # One click and a confirmation (the dialog handler accepts it) withdraw the consent.
    page.click("button.danger[data-confirm]")
    page.wait_for_load_state()
    assert page.locator(".flash").count() >= 1

    again = requests.get(f"{live_server.url}/api/v1/me",
                         headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert again.status_code == 401
    assert again.headers["Content-Type"].startswith("application/problem+json")


def test_arabic_dashboard_renders_right_to_left(page, live_server):
    email = f"arabic-{secrets.token_hex(4)}@example.com"
    make_customer(live_server, email, locale="ar")
    log_in(page, email)
    page.goto("/me/")
    html = page.locator("html")
    assert html.get_attribute("dir") == "rtl"
    assert html.get_attribute("lang") == "ar"
    assert page.locator("h1").inner_text() == "خزنتك"
    # Mirrored: the brand sits at the right edge and the nav to its left.
    width = page.viewport_size["width"]
    brand = page.locator(".brand").bounding_box()
    nav = page.locator("header nav").bounding_box()
    assert brand["x"] + brand["width"] > width * 0.8
    assert nav["x"] < brand["x"]
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"


def test_language_switch_remembers_the_choice_on_the_account(page, live_server):
    email = f"switch-{secrets.token_hex(4)}@example.com"
    make_customer(live_server, email)
    log_in(page, email)
    page.goto("/me/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("button[lang=ar]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert urlsplit(page.url).path == "/me/"

    # A new browser session (no language cookie) still gets Arabic: it is the account's choice now.
    page.context.clear_cookies()
    log_in(page, email)
    page.goto("/me/")
    assert page.locator("html").get_attribute("lang") == "ar"
