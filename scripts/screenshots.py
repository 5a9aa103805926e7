"""Screenshots of the main pages, in English and Arabic, for README (docs/screenshots/).

    python scripts/screenshots.py [--out docs/screenshots]

Starts the app on 127.0.0.1 over a throw-away instance folder and SQLite database, fills it with
``vault demo`` (a customer with a filled vault, the "Demo Books" vendor and a grant), lets the
vendor read once so the access history has an entry, then drives Debian's Chromium
(/usr/bin/chromium, never a downloaded browser) through the pages: desktop width for each, and
the dashboard at 360 px too. Officer and vendor console pages are added when those portals exist.
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
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                for language in ("en", "ar"):
                    context = browser.new_context(base_url=base, viewport=DESKTOP, locale=language,
                                                  extra_http_headers={"Accept-Language": language})
                    customer_pages(context, base, demo, out, language)
                    context.close()
                mobile_pages(browser, base, demo, out, "en")
                mobile_pages(browser, base, demo, out, "ar")
                browser.close()
        finally:
            stop()


if __name__ == "__main__":
    main()
