"""Screenshots of the main pages, in English and Arabic, for README (docs/screenshots/).

    python scripts/screenshots.py [--out docs/screenshots]

Starts the app on 127.0.0.1 over a throw-away instance folder and SQLite database, fills it with
``vault demo`` (a customer with a filled vault, the "Demo Books" vendor and a grant), lets the
vendor read once so the access history has an entry, then drives Debian's Chromium
(/usr/bin/chromium, never a downloaded browser) through the pages: desktop width for each, and
the dashboard at 360 px too. It also sets up a service case, an intent with two offers and a
purchase for the customer, an officer with an authenticator (TOTP) and a vendor console member,
so their main pages can be shown too.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, launch_chromium, log_in  # noqa: E402 (after the path)

DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 360, "height": 740}


def start_app(folder: Path):
    """The real app with demo data, served in a background thread; returns (base_url, demo, stop)."""
    import logging

    from werkzeug.serving import make_server

    from web import create_app
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app({"instance_path": folder, "database_url": f"sqlite:///{folder / 'vault.sqlite3'}",
                      "log_level": "WARNING"})
    result = app.test_cli_runner().invoke(args=["vault", "demo", "--json"])
    if result.exit_code != 0:
        raise SystemExit(f"vault demo failed: {result.output}")
    demo = json.loads(result.output)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
    return f"http://127.0.0.1:{server.server_port}", demo, app, stop


def vendor_reads(base: str, demo: dict) -> None:
    import requests
    response = requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {demo['access_token']}"},
                            timeout=10)
    response.raise_for_status()


OFFICER_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CONSOLE_EMAIL = "owner@fixit.example"


def richer_demo(app, demo: dict) -> dict:
    """A case, an intent with two offers and a purchase for the demo customer; TOTP for the
    demo officer; a vendor console owner. Returns what the pages need to be reached."""
    from datetime import timedelta

    import pyotp

    from consent import cases, grants, intents, purchases
    from vault import accounts, totp
    from vault.clock import utcnow
    from vault.db import unit_of_work
    from vendor_api import console
    from vendor_api.cli import demo_context
    inst = app.extensions["vrm"]
    now = utcnow()
    with unit_of_work(inst.sessions) as db:
        customer = accounts.find_by_email(db, demo["customer_email"])
        owner, org = console.sign_up(db, org_name="Fix-It Appliances", website="https://fixit.example",
                                     contact_email="privacy@fixit.example", email=CONSOLE_EMAIL,
                                     password=demo["customer_password"])
        scopes = ["profile.name", "address.shipping", "cases.read", "cases.write", "intents.read", "offers.write",
                  "purchases.read", "purchases.write"]
        fixit, _client, _secret = console.create_app(db, org, console.AppSettings(
            name="Fix-It Repairs", website="https://fixit.example",
            purpose="Repair and replace your appliances, and answer your questions about them.",
            purpose_category="dpv:ServiceProvision", scopes=scopes, redirect_uris=["https://fixit.example/callback"]))
        grants.grant(db, demo_context(inst), customer=customer, app=fixit, scopes=scopes, now=now)
        cases.set_targets(db, fixit, first_response_hours=4, resolution_hours=72, escalation_email=None)
        case = cases.open_case(db, inst.keys, customer, fixit, category="repair", priority="high",
                               description="The kettle I bought in March leaks from the base.",
                               now=now - timedelta(hours=30))
        cases.vendor_reply(db, inst.keys, case, "Sorry to hear that. A courier will collect it on Thursday.",
                           status="in_progress", now=now - timedelta(hours=28))
        intent = intents.publish(db, inst.keys, customer, category=next(iter(intents.CATEGORIES)),
                                 title="A quiet 1.5 l kettle", description="Matte black, delivered before Friday.",
                                 budget_min="30", budget_max="80", currency="GBP", now=now)
        intents.place_offer(db, inst.keys, fixit, intent, price="64.00", currency="GBP",
                            description="Silent Boil 1.5 l, delivered Thursday.",
                            valid_until=now + timedelta(days=5), terms="Two-year warranty.", now=now)
        purchases.add_manual(db, inst.keys, customer, {
            "merchant": "Corner Books", "date": (now - timedelta(days=12)).date().isoformat(), "currency": "GBP",
            "items": [{"name": "The Left Hand of Darkness", "quantity": 1, "unit_price": "9.99"}],
            "total": "9.99"}, now=now)
        officer = accounts.find_by_email(db, demo["officer_email"])
        earlier = now - timedelta(seconds=90)
        totp.enable(db, inst.keys, officer, OFFICER_SECRET, pyotp.TOTP(OFFICER_SECRET).at(earlier), now=earlier)
        return {"case": case.reference, "intent": intent.public_id, "client_id": fixit.client_id, "org": org.id}


def consent_path(demo: dict) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"screenshots" * 5).digest()).rstrip(b"=").decode()
    return "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": demo["client_id"], "redirect_uri": demo["redirect_uri"],
        "scope": "profile.name profile.email address.shipping preferences.communication preferences.interests",
        "state": "screenshot", "code_challenge": challenge, "code_challenge_method": "S256"})


def shoot(page, out: Path, name: str, path: str | None = None) -> None:
    if path:
        page.goto(path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print("saved", out / f"{name}.png")


def customer_pages(context, base: str, demo: dict, out: Path, language: str) -> None:
    page = context.new_page()
    shoot(page, out, f"login-{language}", "/login")
    log_in(page, demo["customer_email"], demo["customer_password"])
    shoot(page, out, f"dashboard-{language}", "/me/")
    page.goto("/me/connections")
    page.click("main table a >> nth=0")
    shoot(page, out, f"connection-{language}")
    shoot(page, out, f"activity-{language}", "/me/activity")
    shoot(page, out, f"profile-{language}", "/me/profile")
    shoot(page, out, f"consent-{language}", consent_path(demo))
    shoot(page, out, f"case-{language}", f"/me/cases/{demo['more']['case']}")
    shoot(page, out, f"intent-{language}", f"/me/intents/{demo['more']['intent']}")
    shoot(page, out, f"purchases-{language}", "/me/purchases")
    page.close()


def officer_pages(context, demo: dict, out: Path, language: str) -> None:
    import pyotp
    page = context.new_page()
    log_in(page, demo["officer_email"], demo["officer_password"])
    page.fill("#code", pyotp.TOTP(OFFICER_SECRET).now())
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    shoot(page, out, f"officer-log-{language}", "/privacy/")
    shoot(page, out, f"officer-reports-{language}", "/privacy/reports")
    shoot(page, out, f"officer-integrity-{language}", "/privacy/integrity")
    page.close()


def console_pages(context, demo: dict, out: Path, language: str) -> None:
    page = context.new_page()
    log_in(page, CONSOLE_EMAIL, demo["customer_password"])
    shoot(page, out, f"console-app-{language}", f"/console/apps/{demo['more']['client_id']}")
    shoot(page, out, f"console-guide-{language}", "/console/guide")
    page.close()


def mobile_pages(browser, base: str, demo: dict, out: Path, language: str) -> None:
    context = browser.new_context(base_url=base, viewport=MOBILE, locale=language, device_scale_factor=2,
                                  extra_http_headers={"Accept-Language": language})
    page = context.new_page()
    log_in(page, demo["customer_email"], demo["customer_password"])
    shoot(page, out, f"dashboard-{language}-mobile", "/me/")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        base, demo, app, stop = start_app(Path(tmp))
        try:
            vendor_reads(base, demo)
            demo["more"] = richer_demo(app, demo)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                for language in ("en", "ar"):
                    context = browser.new_context(base_url=base, viewport=DESKTOP, locale=language,
                                                  extra_http_headers={"Accept-Language": language})
                    customer_pages(context, base, demo, out, language)
                    context.close()
                    for pages in (officer_pages, console_pages):  # each signs in afresh
                        context = browser.new_context(base_url=base, viewport=DESKTOP, locale=language,
                                                      extra_http_headers={"Accept-Language": language})
                        pages(context, demo, out, language)
                        context.close()
                mobile_pages(browser, base, demo, out, "en")
                mobile_pages(browser, base, demo, out, "ar")
                browser.close()
        finally:
            stop()


if __name__ == "__main__":
    main()
