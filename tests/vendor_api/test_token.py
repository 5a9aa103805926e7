"""The token endpoint: codes, refresh rotation, client authentication, client credentials
(SECURITY.md 6, 7, 9, 10, 11)."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text

from consent import grants, ledger
from consent.models import Grant
from vendor_api.models import AuthorizationCode, OAuthClient, Token

from .conftest import ALL_SCOPES, REDIRECT_URI, ctx_for, make_vendor, query_of


def _redeem(flow, location: str, verifier: str, **overrides):
    data = {"grant_type": "authorization_code", "code": query_of(location)["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}
    data.update(overrides)
    auth = data.pop("auth", None)
    return flow.token_request({k: v for k, v in data.items() if v is not None}, auth=auth)


def _types(db, customer) -> list[str]:
    return [e.type for e in ledger.entries_for(db, customer.public_id, limit=1000)]


def test_code_exchange_gives_bearer_tokens_with_the_approved_scope(flow, logged_in):
    location, verifier, _s = flow.code(share=["profile.name", "profile.email"])
    response = _redeem(flow, location, verifier)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("vv_at_") and body["refresh_token"].startswith("vv_rt_")
    assert set(body["scope"].split()) == {"profile.name", "profile.email"}
    assert response.headers["Cache-Control"] == "no-store"


# --- SECURITY.md 7 ----------------------------------------------------------------------------------

def test_sec07_code_reuse_fails_and_revokes_what_the_first_redemption_issued(flow, logged_in, db):
    location, verifier, _s = flow.code()
    first = _redeem(flow, location, verifier)
    assert first.status_code == 200
    access, refresh = first.json["access_token"], first.json["refresh_token"]
    assert flow.api("/api/v1/me", access).status_code == 200

    second = _redeem(flow, location, verifier)
    assert second.status_code == 400 and second.json["error"] == "invalid_grant"
    assert flow.api("/api/v1/me", access).status_code == 401
    refreshed = flow.token_request({"grant_type": "refresh_token", "refresh_token": refresh})
    assert refreshed.status_code == 400
    db.expire_all()
    assert "token_reuse" in _types(db, logged_in)


def test_sec07_code_reuse_also_revokes_tokens_rotated_from_the_first(flow, logged_in):
    location, verifier, _s = flow.code()
    first = _redeem(flow, location, verifier).json
    rotated = flow.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).json
    assert flow.api("/api/v1/me", rotated["access_token"]).status_code == 200
    assert _redeem(flow, location, verifier).status_code == 400
    assert flow.api("/api/v1/me", rotated["access_token"]).status_code == 401


def test_sec07_code_expires_after_60_seconds(flow, logged_in, clock):
    location, verifier, _s = flow.code()
    clock.advance(seconds=61)
    response = _redeem(flow, location, verifier)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_sec07_code_lives_at_most_60_seconds(flow, logged_in, db):
    flow.code()
    row = db.scalar(select(AuthorizationCode))
    assert (row.expires_at - row.created_at).total_seconds() <= 60


def test_sec07_code_within_its_minute_still_works(flow, logged_in, clock):
    location, verifier, _s = flow.code()
    clock.advance(seconds=50)
    assert _redeem(flow, location, verifier).status_code == 200


def test_sec07_code_is_bound_to_its_client(flow, logged_in, db):
    location, verifier, _s = flow.code()
    thief = make_vendor(db, name="Thief")
    response = _redeem(flow, location, verifier, auth=thief.basic)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert _redeem(flow, location, verifier).status_code == 200  # the failed attempt did not burn it


@pytest.mark.parametrize("redirect_uri", ["https://app.acme.example/other", None, REDIRECT_URI + "?x=1"])
def test_sec07_code_is_bound_to_its_redirect_uri(flow, logged_in, redirect_uri):
    location, verifier, _s = flow.code()
    response = _redeem(flow, location, verifier, redirect_uri=redirect_uri)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_sec07_code_for_revoked_consent_gives_no_token(flow, logged_in, db, app):
    location, verifier, _s = flow.code()
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    grants.revoke(db, ctx_for(app), grant, logged_in)
    db.commit()
    assert _redeem(flow, location, verifier).status_code == 400


def test_unknown_code_is_invalid_grant(flow, logged_in):
    response = flow.token_request({"grant_type": "authorization_code", "code": "vv_ac_" + "x" * 43,
                                   "redirect_uri": REDIRECT_URI, "code_verifier": "v" * 50})
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


# --- SECURITY.md 9 ----------------------------------------------------------------------------------

def test_sec09_refresh_rotates(flow, logged_in):
    first = flow.tokens()
    second = flow.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert second.json["access_token"] != first["access_token"]
    assert flow.api("/api/v1/me", second.json["access_token"]).status_code == 200


def test_sec09_refresh_replay_revokes_every_token_of_the_grant_and_is_logged(flow, logged_in, db):
    first = flow.tokens()
    second = flow.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).json
    # a second, independent authorization of the same grant (another device of the vendor)
    other = flow.tokens()

    replay = flow.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    for access in (first["access_token"], second["access_token"], other["access_token"]):
        assert flow.api("/api/v1/me", access).status_code == 401
    for refresh in (second["refresh_token"], other["refresh_token"]):
        assert flow.token_request({"grant_type": "refresh_token", "refresh_token": refresh}).status_code == 400
    db.expire_all()
    reuse = [e for e in ledger.entries_for(db, logged_in.public_id, limit=1000) if e.type == "token_reuse"]
    assert len(reuse) == 1


def test_sec09_refresh_after_revoked_consent_fails(flow, logged_in, db, app):
    token = flow.tokens()
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    grants.revoke(db, ctx_for(app), grant, logged_in)
    db.commit()
    response = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_sec09_refresh_follows_a_narrowed_consent(flow, logged_in, db, app):
    token = flow.tokens(share=["profile.name", "profile.email"])
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    grants.narrow(db, ctx_for(app), grant, logged_in, scopes=["profile.name"])
    db.commit()
    response = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert response.status_code == 200 and response.json["scope"] == "profile.name"


def test_sec09_refresh_cannot_widen_the_scope(flow, logged_in):
    token = flow.tokens(share=["profile.name"])
    response = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                   "scope": "profile.name profile.phone"})
    assert response.status_code == 200 and response.json["scope"] == "profile.name"


def test_sec09_refresh_token_of_another_client_is_refused(flow, logged_in, db):
    token = flow.tokens()
    other = make_vendor(db, name="Other")
    response = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                                  auth=other.basic)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert flow.token_request({"grant_type": "refresh_token",
                               "refresh_token": token["refresh_token"]}).status_code == 200


def test_sec09_refresh_token_expires_with_the_grant(flow, logged_in, clock):
    token = flow.tokens(term="30")
    clock.advance(days=30, seconds=1)
    response = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert response.status_code == 400


# --- SECURITY.md 10 ---------------------------------------------------------------------------------

def test_sec10_tokens_codes_and_secrets_are_stored_only_as_sha256_digests(flow, logged_in, db, vendor):
    location, verifier, _s = flow.code()
    code = query_of(location)["code"]
    token = _redeem(flow, location, verifier).json
    secrets_seen = [code, token["access_token"], token["refresh_token"], vendor.secret]
    for value in secrets_seen:
        assert len(value) >= 6 + 43  # prefix + 256 bits in base64url
    dump = []
    for table in ("oauth_tokens", "oauth_authorization_codes", "oauth_clients"):
        for row in db.execute(text(f"SELECT * FROM {table}")):
            dump.extend(str(v) for v in row)
    blob = "\n".join(dump)
    for value in secrets_seen:
        assert value not in blob
        assert value[6:] not in blob
        assert hashlib.sha256(value.encode()).hexdigest() in blob
    row = db.scalar(select(Token))
    assert row.access_token_hash == hashlib.sha256(token["access_token"].encode()).hexdigest()


def test_sec10_client_secret_check_uses_the_digest(vendor, db):
    client = db.scalar(select(OAuthClient).where(OAuthClient.id == vendor.client.id))
    assert client.check_client_secret(vendor.secret)
    assert not client.check_client_secret(vendor.secret + "x")
    assert not client.check_client_secret(client.client_secret_hash)


# --- SECURITY.md 11: confidential clients authenticate -----------------------------------------------

def test_sec11_wrong_secret_is_invalid_client(flow, logged_in, vendor):
    location, verifier, _s = flow.code()
    response = _redeem(flow, location, verifier, auth=(vendor.client_id, "vv_cs_wrong"))
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert _redeem(flow, location, verifier).status_code == 200


def test_sec11_no_client_authentication_is_refused(flow, logged_in, vendor):
    location, verifier, _s = flow.code()
    response = _redeem(flow, location, verifier, auth=False, client_id=vendor.client_id)
    assert response.status_code in (400, 401) and response.json["error"] == "invalid_client"


def test_sec11_client_secret_post_when_registered_for_basic_is_refused(flow, logged_in, vendor):
    location, verifier, _s = flow.code()
    response = _redeem(flow, location, verifier, auth=False, client_id=vendor.client_id, client_secret=vendor.secret)
    assert response.json["error"] == "invalid_client"


def test_sec11_client_secret_post_client(client, portal, db, filled_customer):
    from vendor_api import clients
    from .conftest import Flow
    vendor = make_vendor(db, name="Poster")
    vendor.client.token_endpoint_auth_method = "client_secret_post"
    db.commit()
    flow = Flow(client, portal, vendor)
    flow.login(filled_customer.email)
    location, verifier, _s = flow.code()
    response = _redeem(flow, location, verifier, auth=False, client_id=vendor.client_id, client_secret=vendor.secret)
    assert response.status_code == 200, response.json
    assert clients.by_client_id(db, vendor.client_id) is not None


def test_rotated_secret_replaces_the_old_one_at_once(flow, logged_in, vendor, db):
    from vendor_api import clients
    new_secret = clients.rotate_secret(db, db.get(OAuthClient, vendor.client.id))
    db.commit()
    location, verifier, _s = flow.code()
    assert _redeem(flow, location, verifier).status_code == 401
    assert _redeem(flow, location, verifier, auth=(vendor.client_id, new_secret)).status_code == 200


# --- SECURITY.md 6: grant types are an allow-list ---------------------------------------------------

@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code",
                                        "urn:ietf:params:oauth:grant-type:jwt-bearer"])
def test_sec06_no_password_or_implicit_grant(flow, grant_type):
    response = flow.token_request({"grant_type": grant_type, "username": "a", "password": "b"})
    assert response.status_code == 400 and response.json["error"] == "unsupported_grant_type"


def test_sec06_a_client_uses_only_its_allowed_grant_types(client, portal, db, filled_customer):
    from .conftest import Flow
    vendor = make_vendor(db, name="CodeOnly", grant_types=["authorization_code"])
    flow = Flow(client, portal, vendor)
    flow.login(filled_customer.email)
    token = flow.tokens()
    assert "refresh_token" not in token
    response = flow.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json["error"] == "unauthorized_client"


def test_sec06_client_without_authorization_code_cannot_start_the_flow(client, portal, db, filled_customer):
    from .conftest import Flow
    vendor = make_vendor(db, name="Machine", grant_types=["client_credentials"])
    flow = Flow(client, portal, vendor)
    flow.login(filled_customer.email)
    response = client.get(flow.raw_authorize_path(state="m"))
    assert response.status_code == 303 and query_of(response.headers["Location"])["error"] == "unauthorized_client"


# --- client credentials ------------------------------------------------------------------------------

def test_client_credentials_token_is_vendor_level_only(flow, vendor, db, filled_customer, app):
    from .conftest import direct_token
    direct_token(db, app, filled_customer, vendor, ["profile.name"])
    response = flow.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 200
    body = response.json
    assert body["scope"] == "vendor:read" and "refresh_token" not in body
    me = flow.api("/api/v1/me", body["access_token"])
    assert me.status_code == 403 and 'error="insufficient_scope"' in me.headers["WWW-Authenticate"]
    info = flow.api("/api/v1/app", body["access_token"])
    assert info.status_code == 200
    assert info.json["client_id"] == vendor.client_id and info.json["grants"] == {"active": 1, "revoked": 0,
                                                                                  "expired": 0}
    assert "Amira" not in info.get_data(as_text=True)


@pytest.mark.parametrize("scope", ["profile.name", "vendor:read profile.email", "vendor:write"])
def test_client_credentials_cannot_ask_for_customer_scopes(flow, scope):
    response = flow.token_request({"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_customer_token_cannot_read_the_vendor_endpoint(flow, logged_in):
    token = flow.tokens()
    response = flow.api("/api/v1/app", token["access_token"])
    assert response.status_code == 403


def test_token_endpoint_errors_are_oauth_json_not_pages(flow):
    response = flow.client.get("/oauth/token")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
    response = flow.token_request({"grant_type": "authorization_code"})
    assert response.mimetype == "application/json" and "error" in response.json


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("content_type, body", [
    ("application/json", '{"grant_type": "client_credentials"}'), ("text/plain", "grant_type=client_credentials")])
def test_parameters_sent_as_anything_but_a_form_are_named_as_the_problem(flow, path, content_type, body):
    response = flow.client.post(path, data=body, content_type=content_type, auth=(flow.vendor.client_id,
                                                                              flow.vendor.secret))
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.json["error"] == "invalid_request"
    assert "application/x-www-form-urlencoded" in response.json["error_description"]
    assert content_type in response.json["error_description"] and "access_token" not in response.json
    assert response.headers["Cache-Control"] == "no-store"


def test_all_scopes_are_known(vendor):
    assert set(vendor.app.requested_scopes) == set(ALL_SCOPES)


def test_no_credential_reaches_the_logs(flow, logged_in, vendor, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    location, verifier, _s = flow.code()
    token = _redeem(flow, location, verifier).json
    refreshed = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).json
    flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})  # a replay: logged
    flow.api("/api/v1/me", refreshed["access_token"])
    assert "Replay" in caplog.text
    for secret in (query_of(location)["code"], token["access_token"], token["refresh_token"],
                   refreshed["access_token"], refreshed["refresh_token"], vendor.secret):
        assert secret not in caplog.text
