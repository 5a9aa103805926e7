"""The real app served over HTTP on 127.0.0.1, and Debian's Chromium driven by Playwright.

The server runs in a background thread (werkzeug's ``make_server``) over a database of its
own, migrated like production and really committed to (SQLite, or a PostgreSQL schema when
``VAULT_TEST_DATABASE_URL`` is set), so the browser sees exactly what a customer would.

Chromium is Debian's (``apt-get install chromium``; ``.ci/run`` installs it): never a browser
downloaded by Playwright. Without ``/usr/bin/chromium`` the browser tests skip, saying why.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import STRONG_PASSWORD, EmptyDatabase, make_test_app

CHROMIUM = "/usr/bin/chromium"
# Flags from the machine notes: without the background-networking ones Chromium keeps trying
# to reach hosts this closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class LiveServer:
    url: str
    port: int
    app: object

    def db(self):
        """A session on the served database, for arranging data and reading what is stored."""
        return self.app.extensions["vrm"].sessions()


class ServerThread(threading.Thread):
    def __init__(self, app):
        super().__init__(daemon=True, name="live-server")
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port

    def run(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.join(timeout=10)


def serve(database_url: str, instance_path: Path, **overrides):
    """Start the app on a free loopback port; returns ``(LiveServer, stop)``."""
    app = make_test_app(database_url, instance_path, **overrides)
    thread = ServerThread(app)
    thread.start()
    url = f"http://127.0.0.1:{thread.port}"

    def stop():
        thread.stop()
        app.extensions["vrm"].dispose()
    return LiveServer(url=url, port=thread.port, app=app), stop


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    database = EmptyDatabase(tmp_path_factory.mktemp("live-db")).migrate()
    server, stop = serve(database.url, tmp_path_factory.mktemp("live-instance"))
    yield server
    stop()
    database.drop()


def launch_chromium(playwright):
    """Debian's Chromium, headless, with a fresh profile (Playwright makes a new empty
    user-data-dir for every ``launch``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" of revoke/erase
    return page


def make_customer(live_server, email: str, *, locale: str | None = None):
    """A customer account stored on the live server's database."""
    from vault.accounts import sign_up
    db = live_server.db()
    try:
        account = sign_up(db, email, STRONG_PASSWORD, locale=locale)
        db.commit()
        return account
    finally:
        db.close()


def log_in(page, email: str, password: str = STRONG_PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def connect_vendor(live_server, account, *, scopes=("profile.name", "profile.email", "preferences.interests")):
    """A live grant from ``account`` to a new vendor app, with a filled vault to share from."""
    from consent import grants
    from tests.vendor_api.conftest import PROFILE, make_vendor
    from vault import records
    from vendor_api.cli import demo_context
    inst = live_server.app.extensions["vrm"]
    db = live_server.db()
    try:
        records.write_fields(db, inst.keys, db.merge(account), PROFILE)
        vendor = make_vendor(db, name="Demo Books")
        grant = grants.grant(db, demo_context(inst), customer=db.merge(account), app=vendor.app,
                             scopes=scopes, term_days=90).grant
        db.commit()
        return vendor, grant.public_id
    finally:
        db.close()
