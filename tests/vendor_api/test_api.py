"""The vendor API v1 as a resource server (SECURITY.md 14, 15, 17, 18)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from consent import grants, ledger
from consent.models import Grant
from vault import records

from .conftest import PROFILE, ctx_for, direct_token, make_vendor


@pytest.fixture
def token(db, app, filled_customer, vendor) -> str:
    return direct_token(db, app, filled_customer, vendor, ["profile.name", "profile.email"])


def _get(client, path, token=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(path, headers=headers, **kwargs)


def assert_problem(response, status: int):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "File \"" not in text and "sqlalchemy" not in text.lower()
    return body


def test_me_returns_the_consented_fields_only(client, token, filled_customer):
    response = _get(client, "/api/v1/me", token)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"sub", "given_name", "family_name", "display_name", "emails"}
    assert body["emails"] == PROFILE["emails"]
    assert response.headers["Cache-Control"] == "no-store"


def test_each_read_is_one_ledger_entry_naming_the_fields_returned(client, token, db, filled_customer, vendor):
    _get(client, "/api/v1/me", token)
    db.expire_all()
    reads = [e for e in ledger.entries_for(db, filled_customer.public_id, limit=100) if e.type == "read"]
    assert len(reads) == 1
    assert sorted(reads[0].data["fields"]) == ["display_name", "emails", "family_name", "given_name"]
    assert reads[0].data["vendor_app"] == vendor.client_id
    assert "Amira" not in json.dumps(reads[0].data)


def test_me_consent_describes_the_grant_and_is_logged(client, token, db, filled_customer, vendor):
    response = _get(client, "/api/v1/me/consent", token)
    assert response.status_code == 200
    body = response.json
    grant = db.scalar(select(Grant).where(Grant.account_id == filled_customer.id))
    assert body["sub"] == grant.subject and body["status"] == "active"
    assert body["scopes"] == ["profile.email", "profile.name"]
    assert set(body["fields"]) == {"given_name", "family_name", "display_name", "emails"}
    assert body["purpose"] == vendor.app.purpose and body["granted_at"] and body["expires_at"]
    db.expire_all()
    reads = [e for e in ledger.entries_for(db, filled_customer.public_id, limit=100) if e.type == "read"]
    assert len(reads) == 1 and reads[0].data["fields"] == []


# --- SECURITY.md 14 ---------------------------------------------------------------------------------

def test_sec14_missing_token_is_401_with_a_bearer_challenge(client):
    response = _get(client, "/api/v1/me")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="vrm-vault"'


def test_sec14_query_string_token_is_ignored(client, token):
    response = client.get("/api/v1/me", query_string={"access_token": token})
    assert_problem(response, 401)
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_sec14_form_body_token_is_ignored(client, token):
    response = client.get("/api/v1/me", data={"access_token": token})
    assert_problem(response, 401)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "bearer "])
def test_sec14_other_schemes_are_401(client, header):
    assert_problem(client.get("/api/v1/me", headers={"Authorization": header}), 401)


@pytest.mark.parametrize("value", ["vv_at_unknown", "not-a-token", "vv_rt_looks_like_refresh"])
def test_sec14_unknown_token_is_invalid_token(client, value):
    response = _get(client, "/api/v1/me", value)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="vrm-vault", error="invalid_token"'


def test_sec14_refresh_token_is_not_an_access_token(client, db, app, filled_customer, vendor):
    from vendor_api import tokens
    change = grants.grant(db, ctx_for(app), customer=filled_customer, app=vendor.app, scopes=["profile.name"])
    issued = tokens.issue(db, app_id=vendor.app.id, scope="profile.name", grant_type="authorization_code",
                          grant=change.grant, with_refresh=True)
    db.commit()
    assert_problem(_get(client, "/api/v1/me", issued.refresh_token), 401)


# --- SECURITY.md 15 ---------------------------------------------------------------------------------

def test_sec15_revoked_consent_stops_the_very_next_call(client, token, db, app, filled_customer):
    assert _get(client, "/api/v1/me", token).status_code == 200
    grant = db.scalar(select(Grant).where(Grant.account_id == filled_customer.id))
    grants.revoke(db, ctx_for(app), grant, filled_customer)
    db.commit()
    response = _get(client, "/api/v1/me", token)
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert_problem(_get(client, "/api/v1/me/consent", token), 401)


def test_sec15_expired_grant_stops_at_its_expiry_instant(client, db, app, filled_customer, vendor, clock):
    from consent.models import Grant as G
    token = direct_token(db, app, filled_customer, vendor, ["profile.name"], now=clock.now())
    grant = db.scalar(select(G).where(G.account_id == filled_customer.id))
    clock.offset += grant.expires_at - clock.now()  # exactly at the expiry instant
    assert_problem(_get(client, "/api/v1/me", token), 401)


def test_sec15_grant_expiry_caps_the_access_token(client, db, app, filled_customer, vendor, clock):
    from datetime import timedelta
    token = direct_token(db, app, filled_customer, vendor, ["profile.name"], now=clock.now())
    clock.advance(days=89, hours=23, minutes=30)
    assert _get(client, "/api/v1/me", token).status_code == 401  # the token itself lives only an hour
    grant = db.scalar(select(Grant).where(Grant.account_id == filled_customer.id))
    assert grant.expires_at - clock.now() < timedelta(hours=1)


def test_sec15_access_token_expires_after_an_hour(client, token, clock):
    clock.advance(minutes=59)
    assert _get(client, "/api/v1/me", token).status_code == 200
    clock.advance(minutes=1, seconds=1)
    assert_problem(_get(client, "/api/v1/me", token), 401)


def test_sec15_narrowing_applies_to_the_next_call(client, token, db, app, filled_customer):
    grant = db.scalar(select(Grant).where(Grant.account_id == filled_customer.id))
    grants.narrow(db, ctx_for(app), grant, filled_customer, fields=["given_name", "emails"])
    db.commit()
    assert set(_get(client, "/api/v1/me", token).json) == {"sub", "given_name", "emails"}


def test_sec15_consent_given_again_does_not_revive_old_tokens(client, token, db, app, filled_customer, vendor,
                                                              clock):
    grant = db.scalar(select(Grant).where(Grant.account_id == filled_customer.id))
    grants.revoke(db, ctx_for(app), grant, filled_customer, now=clock.now())
    db.commit()
    clock.advance(seconds=1)
    grants.grant(db, ctx_for(app), customer=filled_customer, app=vendor.app, scopes=["profile.name"],
                 now=clock.now())
    db.commit()
    assert_problem(_get(client, "/api/v1/me", token), 401)


def test_sec15_deactivated_app_is_refused(client, token, db, vendor):
    from consent.models import VendorApp
    db.get(VendorApp, vendor.app.id).is_active = False
    db.commit()
    assert_problem(_get(client, "/api/v1/me", token), 401)


# --- SECURITY.md 17 ---------------------------------------------------------------------------------

def test_sec17_a_token_for_customer_a_never_yields_customer_bs_data(client, db, app, keys, vendor):
    from vault.accounts import sign_up
    alice = sign_up(db, "alice@example.com", "correct horse battery staple")
    bob = sign_up(db, "bob@example.com", "correct horse battery staple")
    records.write_fields(db, keys, alice, {"given_name": "Alice", "emails": [{"address": "alice@example.org"}]})
    records.write_fields(db, keys, bob, {"given_name": "Bob", "emails": [{"address": "bob@example.org"}]})
    db.commit()
    token_a = direct_token(db, app, alice, vendor, ["profile.name", "profile.email"])
    token_b = direct_token(db, app, bob, vendor, ["profile.name"])
    a, b = _get(client, "/api/v1/me", token_a).json, _get(client, "/api/v1/me", token_b).json
    assert a["given_name"] == "Alice" and "Bob" not in json.dumps(a) and "bob@" not in json.dumps(a)
    assert b["given_name"] == "Bob" and "emails" not in b and "Alice" not in json.dumps(b)
    assert a["sub"] != b["sub"]


def test_sec17_ids_are_pairwise_and_never_ours(client, db, app, filled_customer, vendor):
    other = make_vendor(db, name="Other")
    one = _get(client, "/api/v1/me", direct_token(db, app, filled_customer, vendor, ["profile.name"])).json
    two = _get(client, "/api/v1/me", direct_token(db, app, filled_customer, other, ["profile.name"])).json
    assert one["sub"] != two["sub"]
    for body in (one, two):
        text = json.dumps(body)
        assert filled_customer.public_id not in text and f'"{filled_customer.id}"' not in text


@pytest.mark.parametrize("path", ["/api/v1/customers/1", "/api/v1/me/1", "/api/v1/grants", "/api/v1/me?sub=x"])
def test_sec17_no_endpoint_addresses_a_customer_by_id(client, token, path):
    response = _get(client, path, token)
    if response.status_code == 200:  # a query parameter is simply ignored: still the token's own customer
        assert response.json["given_name"] == "Amira"
    else:
        assert_problem(response, 404)


# --- SECURITY.md 18 ---------------------------------------------------------------------------------

def test_sec18_errors_are_problem_json_without_internals(client, token, monkeypatch):
    assert_problem(client.get("/api/v1/nowhere"), 404)
    assert_problem(client.post("/api/v1/me"), 405)
    import vendor_api.resources as resources

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: SELECT * FROM vault_records")
    monkeypatch.setattr(resources, "read_profile", broken)
    body = assert_problem(_get(client, "/api/v1/me", token), 500)
    assert "secret internals" not in json.dumps(body)


def test_sec18_rate_limit_per_client_answers_429_with_retry_after(client, app, db, filled_customer, vendor):
    app.config["VENDOR_API_RATELIMIT"] = "3 per minute"
    token = direct_token(db, app, filled_customer, vendor, ["profile.name"])
    other = direct_token(db, app, filled_customer, make_vendor(db, name="Other"), ["profile.name"])
    for _ in range(3):
        assert _get(client, "/api/v1/me", token).status_code == 200
    response = _get(client, "/api/v1/me", token)
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert _get(client, "/api/v1/me", other).status_code == 200  # the limit is per client


def test_with_rate_limits_switched_off_the_api_answers_without_limiting(database_url, instance_path):
    """RATELIMIT_ENABLED=False in a fresh process (Flask-Limiter then has no strategy at all):
    the API answers as usual, without limit headers, instead of 500 on every call."""
    import subprocess
    import sys
    code = ("import sys; from tests.conftest import make_test_app; "
            "app = make_test_app(sys.argv[1], sys.argv[2], RATELIMIT_ENABLED=False, auto_migrate=True); "
            "r = app.test_client().get('/api/v1/me', headers={'Authorization': 'Bearer vv_at_unknown'}); "
            "print(r.status_code, 'X-RateLimit-Limit' in r.headers)")
    out = subprocess.run([sys.executable, "-c", code, database_url, str(instance_path)], capture_output=True,
                         text=True, timeout=120, cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.stdout.split()[-2:] == ["401", "False"], out.stdout + out.stderr[-2000:]


def test_sec18_rate_limit_on_the_token_endpoint(client, app, vendor):
    import base64
    app.config["OAUTH_TOKEN_RATELIMIT"] = "2 per minute"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{vendor.client_id}:{vendor.secret}".encode()).decode()}
    for _ in range(2):
        assert client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=auth).status_code == 200
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert_problem(response, 429)
    assert "Retry-After" in response.headers


# --- OpenAPI and offline docs ------------------------------------------------------------------------

def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/me", "/api/v1/me/consent", "/api/v1/app"} <= set(spec["paths"])
    me = spec["paths"]["/api/v1/me"]["get"]
    assert "401" in me["responses"] and "429" in me["responses"]
    assert "notes" not in json.dumps(spec["components"]["schemas"]["Me"])
    assert "oauth2" in spec["components"]["securitySchemes"]


def test_docs_page_works_offline(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert "<script>" not in html  # no inline script: the CSP allows 'self' only
    for asset in ("/api/v1/docs/assets/swagger-ui-bundle.js", "/api/v1/docs/assets/swagger-ui.css",
                  "/api/v1/docs/init.js"):
        assert asset in html
        with client.get(asset) as got:
            assert got.status_code == 200 and len(got.get_data()) > 100
    assert client.get("/api/v1/docs/assets/../../../etc/passwd").status_code == 404
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404
