"""The whole flow with Authlib's own OAuth2 client: in-process, and against a running server.

authorize -> login -> consent page (one scope unticked) -> code -> token -> /api/v1/me without
the unticked fields -> refresh -> the customer revokes consent -> the next call is 401.
"""
from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import select
from werkzeug.serving import make_server

from consent import grants
from consent.models import Grant
from tests.conftest import STRONG_PASSWORD, make_test_app

from .conftest import ALL_SCOPES, PROFILE, REDIRECT_URI, ctx_for, make_vendor, new_verifier, query_of

UNTICKED = "profile.phone"


def test_full_flow_in_process(flow, app, db, filled_customer):
    path, verifier, state = flow.authorize_url(ALL_SCOPES)
    first = flow.client.get(path)
    assert first.status_code == 303 and "/login?next=" in first.headers["Location"]

    login = flow.portal.post(first.headers["Location"], {"email": filled_customer.email,
                                                         "password": STRONG_PASSWORD}, form_path="/login")
    assert login.status_code == 303 and login.headers["Location"] == path

    shared = [s for s in ALL_SCOPES if s != UNTICKED]
    response = flow.consent(path, share=shared)
    assert response.status_code == 303
    params = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert params["state"] == state and params["iss"] == "http://localhost" and params["code"].startswith("vv_ac_")

    sess = flow.session(ALL_SCOPES, state=state)
    token = sess.fetch_token("http://localhost/oauth/token", authorization_response=response.headers["Location"],
                             code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert set(token["scope"].split()) == set(shared)

    me = sess.get("http://localhost/api/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert "phones" not in body and "notes" not in body and "birth_date" not in body
    assert body["given_name"] == "Amira" and body["emails"][0]["address"] == "amira@example.org"
    # Pairwise and opaque: neither our row id nor the customer's public id (a digit of the row id
    # can turn up in the random base32 part by chance, so that is not what is checked).
    assert body["sub"].startswith("sub_") and body["sub"][4:] != str(filled_customer.id)
    assert filled_customer.public_id not in body["sub"]

    old_refresh = token["refresh_token"]
    refreshed = sess.refresh_token("http://localhost/oauth/token")
    assert refreshed["refresh_token"] != old_refresh and refreshed["access_token"] != token["access_token"]
    assert sess.get("http://localhost/api/v1/me").status_code == 200

    grant = db.scalar(select(Grant).where(Grant.account_id == filled_customer.id))
    grants.revoke(db, ctx_for(app), grant, filled_customer)
    db.commit()

    after = sess.get("http://localhost/api/v1/me")
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["WWW-Authenticate"]
    assert after.headers["Content-Type"].startswith("application/problem+json")


@pytest.fixture
def live_server(fresh_database, instance_path):
    """The app on a real socket (127.0.0.1, a free port), with a database that really commits."""
    fresh_database.migrate()
    application = make_test_app(fresh_database.url, instance_path)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield application, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        application.extensions["vrm"].dispose()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_full_flow_with_a_real_oauth_client_against_a_running_server(live_server):
    application, base = live_server
    inst = application.extensions["vrm"]
    from vault import accounts, records
    with inst.sessions() as db:
        customer = accounts.sign_up(db, "live.customer@example.com", STRONG_PASSWORD)
        records.write_fields(db, inst.keys, customer, PROFILE)
        vendor = make_vendor(db)  # commits
        customer_id = customer.id

    # the vendor's backend: Authlib's client over real HTTP
    oauth = OAuth2Session(vendor.client_id, vendor.secret, scope=" ".join(ALL_SCOPES),
                          redirect_uri=REDIRECT_URI, code_challenge_method="S256")
    verifier = new_verifier()
    url, state = oauth.create_authorization_url(base + "/oauth/authorize", code_verifier=verifier)

    # the customer's browser
    browser = requests.Session()
    step = browser.get(url, allow_redirects=False)
    assert step.status_code == 303
    login_url = base + step.headers["Location"]
    form = browser.get(login_url)
    step = browser.post(login_url, data={"csrf_token": _csrf(form.text), "email": "live.customer@example.com",
                                         "password": STRONG_PASSWORD}, allow_redirects=False)
    assert step.status_code == 303
    consent_url = base + step.headers["Location"]
    page = browser.get(consent_url)
    assert page.status_code == 200 and "Amira" in page.text  # the preview of the customer's own values
    shared = [s for s in ALL_SCOPES if s != UNTICKED]
    step = browser.post(consent_url, data={"csrf_token": _csrf(page.text), "decision": "approve", "term": "30",
                                           "share": shared}, allow_redirects=False)
    assert step.status_code == 303
    callback = step.headers["Location"]
    assert urlsplit(callback).netloc == "app.acme.example" and query_of(callback)["iss"] == base

    token = oauth.fetch_token(base + "/oauth/token", authorization_response=callback, code_verifier=verifier)
    me = oauth.get(base + "/api/v1/me")
    assert me.status_code == 200 and "phones" not in me.json() and me.json()["given_name"] == "Amira"

    oauth.refresh_token(base + "/oauth/token")
    assert oauth.token["access_token"] != token["access_token"]
    assert oauth.get(base + "/api/v1/me").status_code == 200

    from vault.models import Account
    with inst.sessions() as db:
        customer = db.get(Account, customer_id)
        grant = db.scalar(select(Grant).where(Grant.account_id == customer_id))
        grants.revoke(db, ctx_for(application), grant, customer)
        db.commit()

    after = oauth.get(base + "/api/v1/me")
    assert after.status_code == 401 and 'error="invalid_token"' in after.headers["WWW-Authenticate"]
