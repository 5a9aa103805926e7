"""Revocation (RFC 7009) and introspection (RFC 7662), each answering a client only about its own
tokens (SECURITY.md 11)."""
from __future__ import annotations

import base64

from sqlalchemy import select

from consent import grants
from consent.models import Grant

from .conftest import ctx_for, make_vendor


def _post(flow, path, data, auth):
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return flow.client.post(path, data=data, headers=headers)


# --- introspection ----------------------------------------------------------------------------------

def test_sec11_introspection_of_own_access_token(flow, logged_in, vendor, db):
    token = flow.tokens(share=["profile.name"])
    body = _post(flow, "/oauth/introspect", {"token": token["access_token"]}, vendor.basic).json
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    assert body["active"] is True and body["client_id"] == vendor.client_id and body["scope"] == "profile.name"
    assert body["sub"] == grant.subject and body["token_type"] == "Bearer"
    assert body["iss"] == "http://localhost" and body["exp"] - body["iat"] == 3600


def test_sec11_introspection_of_own_refresh_token(flow, logged_in, vendor):
    token = flow.tokens()
    body = _post(flow, "/oauth/introspect", {"token": token["refresh_token"],
                                             "token_type_hint": "refresh_token"}, vendor.basic).json
    assert body["active"] is True and body["token_type"] == "refresh_token"


def test_sec11_introspection_of_another_clients_token_is_inactive(flow, logged_in, db):
    token = flow.tokens()
    other = make_vendor(db, name="Curious")
    for value in (token["access_token"], token["refresh_token"]):
        response = _post(flow, "/oauth/introspect", {"token": value}, other.basic)
        assert response.status_code == 200 and response.json == {"active": False}


def test_sec11_introspection_of_unknown_tokens_is_inactive(flow, vendor):
    for value in ("vv_at_nope", "vv_rt_nope", "random", ""):
        response = _post(flow, "/oauth/introspect", {"token": value}, vendor.basic)
        assert response.status_code == 200 and response.json == {"active": False}


def test_sec11_introspection_after_consent_revoked_is_inactive(flow, logged_in, vendor, db, app):
    token = flow.tokens()
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    grants.revoke(db, ctx_for(app), grant, logged_in)
    db.commit()
    assert _post(flow, "/oauth/introspect", {"token": token["access_token"]}, vendor.basic).json == {"active": False}


def test_sec11_introspection_after_expiry_is_inactive(flow, logged_in, vendor, clock):
    token = flow.tokens()
    clock.advance(seconds=3601)
    assert _post(flow, "/oauth/introspect", {"token": token["access_token"]}, vendor.basic).json == {"active": False}


def test_sec11_introspection_requires_client_authentication(flow, logged_in, vendor):
    token = flow.tokens()
    assert _post(flow, "/oauth/introspect", {"token": token["access_token"]}, None).status_code == 401
    wrong = _post(flow, "/oauth/introspect", {"token": token["access_token"]}, (vendor.client_id, "vv_cs_bad"))
    assert wrong.status_code == 401 and wrong.json["error"] == "invalid_client"


def test_introspection_of_a_client_credentials_token(flow, vendor):
    token = flow.token_request({"grant_type": "client_credentials"}).json
    body = _post(flow, "/oauth/introspect", {"token": token["access_token"]}, vendor.basic).json
    assert body["active"] is True and body["scope"] == "vendor:read" and "sub" not in body


# --- revocation -------------------------------------------------------------------------------------

def test_sec11_revoking_an_unknown_token_answers_200(flow, vendor):
    for value in ("vv_at_nope", "vv_rt_nope", "whatever"):
        response = _post(flow, "/oauth/revoke", {"token": value}, vendor.basic)
        assert response.status_code == 200


def test_sec11_revoking_an_access_token_ends_it(flow, logged_in, vendor):
    token = flow.tokens()
    assert _post(flow, "/oauth/revoke", {"token": token["access_token"],
                                         "token_type_hint": "access_token"}, vendor.basic).status_code == 200
    assert flow.api("/api/v1/me", token["access_token"]).status_code == 401


def test_sec11_revoking_a_refresh_token_revokes_its_access_tokens(flow, logged_in, vendor):
    token = flow.tokens()
    rotated = flow.token_request({"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).json
    assert _post(flow, "/oauth/revoke", {"token": rotated["refresh_token"]}, vendor.basic).status_code == 200
    for access in (token["access_token"], rotated["access_token"]):
        assert flow.api("/api/v1/me", access).status_code == 401
    response = flow.token_request({"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert response.status_code == 400


def test_sec11_another_client_cannot_revoke_my_token(flow, logged_in, db):
    token = flow.tokens()
    other = make_vendor(db, name="Saboteur")
    assert _post(flow, "/oauth/revoke", {"token": token["access_token"]}, other.basic).status_code == 200
    assert flow.api("/api/v1/me", token["access_token"]).status_code == 200


def test_sec11_revocation_requires_client_authentication(flow, logged_in):
    token = flow.tokens()
    assert _post(flow, "/oauth/revoke", {"token": token["access_token"]}, None).status_code == 401
    assert flow.api("/api/v1/me", token["access_token"]).status_code == 200


def test_revocation_without_token_parameter_is_invalid_request(flow, vendor):
    response = _post(flow, "/oauth/revoke", {}, vendor.basic)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_revocation_through_authlibs_client(flow, logged_in):
    token = flow.tokens()
    sess = flow.session(token=token)
    response = sess.revoke_token("http://localhost/oauth/revoke", token=token["refresh_token"],
                                 token_type_hint="refresh_token")
    assert response.status_code == 200
    assert flow.api("/api/v1/me", token["access_token"]).status_code == 401


def test_a_wrong_type_hint_does_not_stop_revocation(flow, logged_in, vendor):
    token = flow.tokens()
    assert _post(flow, "/oauth/revoke", {"token": token["access_token"], "token_type_hint": "refresh_token"},
                 vendor.basic).status_code == 200
    assert flow.api("/api/v1/me", token["access_token"]).status_code == 401


def test_an_unknown_type_hint_is_ignored_not_an_authentication_failure(flow, logged_in, vendor):
    """RFC 7009 §2.1: "An invalid token type hint value is ignored"."""
    token = flow.tokens()
    introspected = _post(flow, "/oauth/introspect", {"token": token["access_token"], "token_type_hint": "bogus"},
                         vendor.basic)
    assert introspected.status_code == 200 and introspected.json["active"] is True
    assert _post(flow, "/oauth/revoke", {"token": token["access_token"], "token_type_hint": "bogus"},
                 vendor.basic).status_code == 200
    assert flow.api("/api/v1/me", token["access_token"]).status_code == 401


def test_credentials_that_are_not_utf8_are_invalid_client_not_a_fault(flow, vendor):
    for raw in (b"\xff\xfe:\x80", "é:é".encode("latin-1")):
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        for path, data in (("/oauth/token", {"grant_type": "client_credentials"}),
                           ("/oauth/revoke", {"token": "x"}), ("/oauth/introspect", {"token": "x"})):
            response = flow.client.post(path, data=data, headers=headers)
            assert response.status_code == 401, (path, response.status_code)
            assert response.json["error"] == "invalid_client"
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    # the client's own credentials still work
    assert _post(flow, "/oauth/introspect", {"token": "x"}, vendor.basic).json == {"active": False}
