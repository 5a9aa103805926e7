"""Intent-casting in a real browser: ask for offers, compare two, accept one through the consent screen.

The customer publishes a request with the portal's form; two vendors (plain HTTP clients of the
live server's API, with client-credentials tokens) answer with offers; the customer compares them
side by side, accepts the first vendor's, approves what it needs on the OAuth consent screen, and
the browser lands on that vendor's callback with a code only that vendor (holding the PKCE
verifier) can redeem — for the shipping address, and nothing more. The pages also fit a phone.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.browser.conftest import log_in, make_customer

SCOPES = ["profile.name", "address.shipping", "intents.read", "offers.write"]
FULFIL = ["profile.name", "address.shipping"]


def _vendor(live_server, name: str) -> dict:
    from vendor_api import clients
    db = live_server.db()
    try:
        org = clients.create_org(db, name=f"{name} Ltd", website="https://shop.example",
                                 contact_email="privacy@shop.example")
        app, _client, secret = clients.register_app(
            db, org=org, name=f"{name} {secrets.token_hex(2)}", website="https://shop.example",
            purpose="Deliver what you buy.", scopes=SCOPES, redirect_uris=[f"{live_server.url}/callback"])
        db.commit()
        return {"client_id": app.client_id, "secret": secret, "name": app.name,
                "redirect_uri": f"{live_server.url}/callback"}
    finally:
        db.close()


def _app_token(live_server, vendor: dict) -> str:
    response = requests.post(f"{live_server.url}/oauth/token", auth=(vendor["client_id"], vendor["secret"]),
                             data={"grant_type": "client_credentials", "scope": "vendor:read"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _fill_vault(live_server, account) -> None:
    from tests.vendor_api.conftest import PROFILE
    from vault import records
    db = live_server.db()
    try:
        records.write_fields(db, live_server.app.extensions["vrm"].keys, db.merge(account), PROFILE)
        db.commit()
    finally:
        db.close()


@pytest.fixture
def shopper(live_server):
    account = make_customer(live_server, f"offers-{secrets.token_hex(4)}@example.com")
    _fill_vault(live_server, account)
    return account


def test_customer_compares_two_offers_and_accepts_one_through_the_consent_screen(page, live_server, shopper):
    first, second = _vendor(live_server, "Appliance Alley"), _vendor(live_server, "Brilliant Buys")
    log_in(page, shopper.email)

    # Publish a request with the form.
    page.goto("/me/intents")
    page.click("a.button:has-text('Ask for offers')")
    page.select_option("#category", "home_appliances")
    page.fill("#title", "Washing machine, 8 kg")
    page.fill("#description", "Quiet, A-rated, delivered and installed.")
    page.fill("#budget_min", "300")
    page.fill("#budget_max", "550")
    page.fill("#currency", "EUR")
    page.fill("#city", "Leeds")
    page.fill("#country", "GB")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/me/intents/int_[\w-]+$"))
    intent_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    assert page.locator("h1").inner_text() == "Washing machine, 8 kg"

    # Two vendors find it and answer; the first prepares its authorization request (PKCE).
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    until = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    tokens = {v["client_id"]: _app_token(live_server, v) for v in (first, second)}
    for vendor, price, extra in ((first, "499.00", {"authorization": {
            "redirect_uri": first["redirect_uri"], "code_challenge": challenge, "state": "st-first"}}),
            (second, "459.50", {})):
        headers = {"Authorization": f"Bearer {tokens[vendor['client_id']]}"}
        listed = requests.get(f"{live_server.url}/api/v1/intents", headers=headers, timeout=10).json()
        assert intent_id in [i["id"] for i in listed["intents"]]
        made = requests.post(f"{live_server.url}/api/v1/intents/{intent_id}/offers", headers=headers, timeout=10,
                             json={"price": price, "currency": "EUR", "valid_until": until, "scopes": FULFIL,
                                   "description": f"{vendor['name']}: delivery and installation.", **extra})
        assert made.status_code == 201, made.text

    # The customer was notified, and compares the two offers side by side.
    page.goto("/me/notifications")
    assert "made an offer on your request" in page.locator("main").inner_text()
    page.goto(f"/me/intents/{intent_id}")
    rows = page.locator("table.compare tbody tr")
    assert rows.count() == 2
    assert second["name"] in rows.nth(0).inner_text() and "459.50 EUR" in rows.nth(0).inner_text()
    assert first["name"] in rows.nth(1).inner_text() and "Shipping address" in rows.nth(1).inner_text()

    # Accept the first vendor's offer: the OAuth consent screen asks for what it needs.
    rows.nth(1).locator("button.accept").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    assert page.locator("h1").inner_text().startswith(first["name"])
    assert page.locator("[id='share-address.shipping']").is_checked()
    page.click("button[name=decision][value=approve]")
    page.wait_for_url(lambda url: url.startswith(first["redirect_uri"] + "?"))
    params = parse_qs(urlsplit(page.url).query)
    assert params["state"] == ["st-first"]

    # Only the first vendor, with its verifier, gets a token, and reads the shipping address.
    token = requests.post(f"{live_server.url}/oauth/token", auth=(first["client_id"], first["secret"]), timeout=10,
                          data={"grant_type": "authorization_code", "code": params["code"][0],
                                "redirect_uri": first["redirect_uri"], "code_verifier": verifier})
    assert token.status_code == 200, token.text
    me = requests.get(f"{live_server.url}/api/v1/me", timeout=10,
                      headers={"Authorization": f"Bearer {token.json()['access_token']}"}).json()
    assert me["address_shipping"]["postal_code"] == "LS1 4AB" and "birth_date" not in me

    # The request is closed; the other vendor sees its offer was not chosen.
    page.goto(f"/me/intents/{intent_id}")
    assert "Accepted" in page.locator("dl.facts").inner_text()
    assert page.locator("button.accept").count() == 0
    theirs = requests.get(f"{live_server.url}/api/v1/intents/{intent_id}/offers", timeout=10,
                          headers={"Authorization": f"Bearer {tokens[second['client_id']]}"}).json()["offers"]
    assert [o["status"] for o in theirs] == ["closed"]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_offer_pages_fit_a_phone(browser, live_server, language):
    account = make_customer(live_server, f"offers-phone-{language}-{secrets.token_hex(4)}@example.com",
                            locale=language)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        log_in(page, account.email)
        page.goto("/me/intents/new")
        page.select_option("#category", "travel")
        page.fill("#title", "Two weeks in Crete")
        page.fill("#description", "Flights and a quiet hotel near the sea.")
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r"/me/intents/int_[\w-]+$"))
        for path in ("/me/intents", "/me/intents/new", urlsplit(page.url).path):
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == language
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width}px wide at 360 px"
    finally:
        context.close()
