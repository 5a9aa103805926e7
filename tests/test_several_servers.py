"""Two app servers over one database and one Redis: the path past one machine.

Two real gunicorn processes on different ports share the database (SQLite file, or a
PostgreSQL schema when VAULT_TEST_DATABASE_URL is set), the instance folder (keys) and Redis
(rate limits). Nothing may live only in one process: a revocation made through one server is
refused by the other on the very next call, a session opened on one works on the other, and
login throttling counts attempts made on both.
"""
from __future__ import annotations

import os
import re
import secrets
import socket

import pytest
import requests

from tests.servers import Gunicorn, app_env, seed_demo

REDIS_URL = os.environ.get("VAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")]


@pytest.fixture
def cluster(fresh_database, tmp_path):
    """Migrate, seed the demo, then start two gunicorn servers sharing everything but memory."""
    prefix = "vv-test-" + secrets.token_hex(4)  # this test's own rate-limit keys in the shared Redis
    env = app_env(fresh_database.url, tmp_path / "instance", VAULT_RATELIMIT_STORAGE_URL=REDIS_URL)
    seeded = seed_demo(env)
    factory = f"web:create_app({{'RATELIMIT_KEY_PREFIX': '{prefix}'}})"
    with Gunicorn(env, tmp_path / "a.log", app=factory) as a, Gunicorn(env, tmp_path / "b.log", app=factory) as b:
        yield [a.base, b.base], seeded


def _csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url).text).group(1)


def _login(session: requests.Session, base: str, email: str, password: str) -> requests.Response:
    token = _csrf(session, f"{base}/login")
    return session.post(f"{base}/login", data={"csrf_token": token, "email": email, "password": password},
                        allow_redirects=False)


def test_a_revocation_on_one_server_is_refused_by_the_other_on_the_next_call(cluster):
    (a, b), seeded = cluster
    bearer = {"Authorization": f"Bearer {seeded['access_token']}"}
    assert requests.get(f"{b}/api/v1/me", headers=bearer).status_code == 200

    browser = requests.Session()
    assert _login(browser, a, seeded["customer_email"], seeded["customer_password"]).status_code == 303
    dashboard = browser.get(f"{b}/me/")  # the session opened on A works on B
    assert dashboard.status_code == 200 and "Demo Books" in dashboard.text
    revoke_path = re.search(r'action="(/me/connections/[^"]+/revoke)"', dashboard.text).group(1)
    revoked = browser.post(f"{a}{revoke_path}", data={"csrf_token": _csrf(browser, f"{a}/me/")},
                           allow_redirects=False)
    assert revoked.status_code == 303

    refused = requests.get(f"{b}/api/v1/me", headers=bearer)
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["WWW-Authenticate"]


def test_login_throttling_counts_attempts_made_on_both_servers(cluster):
    (a, b), seeded = cluster
    email = seeded["customer_email"]
    statuses = []
    for attempt in range(6):  # the per-account limit is 5 failures a minute, whichever server sees them
        base = a if attempt % 2 == 0 else b
        statuses.append(_login(requests.Session(), base, email, "not the password at all").status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    # and the right password is throttled too until the window passes: the limit is per account
    assert _login(requests.Session(), a, email, seeded["customer_password"]).status_code == 429
