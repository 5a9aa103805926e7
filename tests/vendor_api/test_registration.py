"""Dynamic client registration (RFC 7591) with initial access tokens from the vendor console.

Negative cases first: no token, a wrong, expired, revoked or spent one (401); redirect URIs and
metadata that break our rules (400 with the RFC's error codes), none of which spends the token or
stores anything. Then the registered client works for real: client credentials, and the whole
authorization code flow with PKCE ending in a read of ``/api/v1/me``.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from consent.models import VendorApp
from tests.vendor_api.conftest import ALL_SCOPES, REDIRECT_URI, Flow, Vendor
from tests.vendor_api.integration_helpers import committing_app
from vault.clock import utcnow
from vault.errors import ValidationFailed
from vendor_api import clients, initial_tokens
from vendor_api.console_models import InitialAccessToken
from vendor_api.credentials import digest
from vendor_api.models import OAuthClient

PATH = "/oauth/register"


def metadata(**overrides) -> dict:
    body = {"client_name": "Acme Books", "client_uri": "https://acme.example", "redirect_uris": [REDIRECT_URI],
            "scope": " ".join(ALL_SCOPES), "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic", "purpose": "Send your orders and recommend books.",
            "purpose_category": "dpv:CustomerOrderManagement"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def org(db):
    row = clients.create_org(db, name="Acme Ltd", website="https://acme.example", contact_email="privacy@acme.example")
    db.commit()
    return row


def new_token(db, org, **kwargs) -> tuple[InitialAccessToken, str]:
    row, token = initial_tokens.issue(db, org, label="CI", hours=kwargs.pop("hours", 1), **kwargs)
    db.commit()
    return row, token


@pytest.fixture
def token(db, org) -> str:
    return new_token(db, org)[1]


def register(client, body, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    if isinstance(body, (dict, list)):
        return client.post(PATH, json=body, headers=headers)
    return client.post(PATH, data=body, headers=headers, **kwargs)


def apps_of(db, org) -> int:
    return db.scalar(select(func.count()).select_from(VendorApp).where(VendorApp.org_id == org.id))


def uses(db, token: str) -> int:
    db.expire_all()
    return db.scalar(select(InitialAccessToken.uses).where(InitialAccessToken.token_hash == digest(token)))


# --- metadata -----------------------------------------------------------------------------------

def test_the_registration_endpoint_is_advertised_and_exists(client):
    data = client.get("/.well-known/oauth-authorization-server").json
    assert data["registration_endpoint"] == "http://localhost/oauth/register"
    assert client.post("/oauth/register").status_code == 401


# --- the initial access token --------------------------------------------------------------------

def test_no_token_is_401_with_a_bearer_challenge(client, db, org):
    response = register(client, metadata())
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["WWW-Authenticate"]  # RFC 6750 §3.1: no code without credentials
    assert response.headers["Cache-Control"] == "no-store"
    assert apps_of(db, org) == 0


@pytest.mark.parametrize("presented", ["vv_iat_unknown", "not-even-ours", "", "vv_iat_" + "x" * 300])
def test_an_unknown_token_is_401(client, db, org, token, presented):
    response = client.post(PATH, json=metadata(), headers={"Authorization": f"Bearer {presented}"})
    assert response.status_code == 401
    if presented:
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert apps_of(db, org) == 0


def test_the_token_is_read_only_from_a_bearer_header(client, db, org, token):
    assert client.post(PATH, json=metadata(), headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert client.post(PATH + f"?access_token={token}", json=metadata()).status_code == 401
    assert uses(db, token) == 0


def test_an_expired_token_is_401(client, db, org):
    _row, token = initial_tokens.issue(db, org, label="old", hours=1, now=utcnow() - timedelta(hours=2))
    db.commit()
    assert register(client, metadata(), token).status_code == 401
    assert apps_of(db, org) == 0


def test_a_revoked_token_is_401(client, db, org):
    row, token = new_token(db, org, max_uses=5)
    initial_tokens.revoke(db, org.id, row.id)
    db.commit()
    assert register(client, metadata(), token).status_code == 401


def test_a_single_use_token_registers_once(client, db, org, token):
    assert register(client, metadata(), token).status_code == 201
    again = register(client, metadata(client_name="Second"), token)
    assert again.status_code == 401 and again.json["error"] == "invalid_token"
    assert apps_of(db, org) == 1


def test_a_token_with_three_uses_registers_three_apps(client, db, org):
    _row, token = new_token(db, org, max_uses=3)
    for i in range(3):
        assert register(client, metadata(client_name=f"App {i}"), token).status_code == 201
    assert register(client, metadata(client_name="App 4"), token).status_code == 401
    assert apps_of(db, org) == 3 and uses(db, token) == 3


def test_tokens_are_stored_as_digests_and_bounded(db, org):
    row, token = new_token(db, org)
    assert token.startswith("vv_iat_") and len(token) > 40
    assert row.token_hash == digest(token) and token not in row.token_hash
    with pytest.raises(ValidationFailed):
        initial_tokens.issue(db, org, label="x", hours=5)
    with pytest.raises(ValidationFailed):
        initial_tokens.issue(db, org, label="x", hours=1, max_uses=21)


# --- what may be registered ----------------------------------------------------------------------

@pytest.mark.parametrize("uris", [
    ["http://acme.example/callback"],               # plain http off loopback
    ["https://acme.example/callback#done"],         # fragment
    ["https://*.acme.example/callback"],            # wildcard
    ["https://user:pw@acme.example/callback"],      # credentials
    ["/callback"],                                  # relative
    [],                                             # none
    "https://acme.example/callback",                # not a list
    [42],                                           # not a string
])
def test_bad_redirect_uris_are_invalid_redirect_uri(client, db, org, token, uris):
    response = register(client, metadata(redirect_uris=uris), token)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_redirect_uri" and response.json["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert apps_of(db, org) == 0 and uses(db, token) == 0


@pytest.mark.parametrize("change", [
    {"scope": "profile.name made.up"},
    {"scope": "vendor:read"},
    {"scope": None},
    {"scope": "   "},
    {"client_name": None},
    {"client_name": "   "},
    {"purpose": None},
    {"purpose_category": "dpv:Surveillance"},
    {"token_endpoint_auth_method": "none"},
    {"token_endpoint_auth_method": "private_key_jwt"},
    {"grant_types": ["implicit"]},
    {"grant_types": ["password"]},
    {"grant_types": ["refresh_token", "client_credentials"]},
    {"response_types": ["token"]},
    {"grant_types": ["client_credentials"], "response_types": ["code"]},
    {"client_uri": "javascript:alert(1)"},
    {"client_name": "x" * 500},
    {"redirect_uris": [REDIRECT_URI], "scope": 7},
])
def test_metadata_outside_our_rules_is_invalid_client_metadata(client, db, org, token, change):
    response = register(client, metadata(**change), token)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_client_metadata" and response.json["error_description"]
    assert apps_of(db, org) == 0 and uses(db, token) == 0


@pytest.mark.parametrize("body, kwargs", [
    ("not json", {"content_type": "text/plain"}),
    ("{broken", {"content_type": "application/json"}),
    (["a", "list"], {}),
])
def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(client, db, org, token, body, kwargs):
    response = register(client, body, token, **kwargs)
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    assert uses(db, token) == 0


def test_a_failed_registration_leaves_the_token_usable(client, db, org, token):
    assert register(client, metadata(scope="made.up"), token).status_code == 400
    assert register(client, metadata(), token).status_code == 201


# --- what registration gives ---------------------------------------------------------------------

def test_registration_returns_the_client_once_and_stores_only_the_secret_hash(client, db, org, token):
    before = utcnow().timestamp()
    response = register(client, metadata(redirect_uris=[REDIRECT_URI, "http://127.0.0.1:8000/cb"],
                                         logo_uri="https://acme.example/logo.png", software_id="acme-cli"), token)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.json
    assert body["client_id"].startswith("vv_app_") and body["client_secret"].startswith("vv_cs_")
    assert before - 1 <= body["client_id_issued_at"] <= utcnow().timestamp() + 1
    assert body["client_secret_expires_at"] == 0
    assert body["redirect_uris"] == [REDIRECT_URI, "http://127.0.0.1:8000/cb"]
    assert body["grant_types"] == ["authorization_code", "refresh_token"] and body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["scope"] == " ".join(ALL_SCOPES) and body["client_name"] == "Acme Books"
    assert "logo_uri" not in body and "software_id" not in body  # not understood, so not registered

    app = db.scalar(select(VendorApp).where(VendorApp.client_id == body["client_id"]))
    oauth = db.scalar(select(OAuthClient).where(OAuthClient.app_id == app.id))
    assert app.org_id == org.id and app.purpose == "Send your orders and recommend books."
    assert app.purpose_category == "dpv:CustomerOrderManagement" and app.website == "https://acme.example"
    assert sorted(app.requested_scopes) == sorted(ALL_SCOPES)
    assert oauth.client_secret_hash == digest(body["client_secret"]) != body["client_secret"]
    assert oauth.grant_types == ["authorization_code", "refresh_token"]
    assert uses(db, token) == 1


def test_defaults_follow_rfc_7591(client, db, org, token):
    body = register(client, {"client_name": "Minimal", "redirect_uris": [REDIRECT_URI], "scope": "profile.name",
                             "purpose": "Greet you by name."}, token).json
    assert body["grant_types"] == ["authorization_code"] and body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_uri"] == org.website and body["purpose_category"] == "dpv:ServiceProvision"


def test_a_registered_client_completes_the_code_flow_and_reads_me(client, portal, db, org, token, filled_customer):
    body = register(client, metadata(), token).json
    app = db.scalar(select(VendorApp).where(VendorApp.client_id == body["client_id"]))
    vendor = Vendor(app, db.scalar(select(OAuthClient).where(OAuthClient.app_id == app.id)), body["client_secret"])
    flow = Flow(client, portal, vendor)
    flow.login(filled_customer.email)
    issued = flow.tokens(share=["profile.name", "profile.email"])
    assert set(issued["scope"].split()) == {"profile.name", "profile.email"} and issued.get("refresh_token")
    me = flow.api("/api/v1/me", issued["access_token"])
    assert me.status_code == 200 and me.json["given_name"] == "Amira" and "phones" not in me.json


def test_client_credentials_only_when_registered_for_it(client, db, org):
    _row, token = new_token(db, org, max_uses=2)
    code_only = register(client, metadata(grant_types=["authorization_code"]), token).json
    both = register(client, metadata(grant_types=["authorization_code", "client_credentials"]), token).json
    for registered, expected in ((code_only, 400), (both, 200)):
        response = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "vendor:read"},
                               auth=(registered["client_id"], registered["client_secret"]))
        assert response.status_code in ((400, 401) if expected == 400 else (200,)), response.json


def test_client_secret_post_is_honoured(client, db, org, token):
    body = register(client, metadata(token_endpoint_auth_method="client_secret_post",
                                     grant_types=["authorization_code", "client_credentials"]), token).json
    as_post = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": body["client_id"],
                                                "client_secret": body["client_secret"]})
    assert as_post.status_code == 200
    as_basic = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(body["client_id"], body["client_secret"]))
    assert as_basic.status_code in (400, 401)


def test_a_token_registers_only_for_its_own_organisation(client, db, org):
    other = clients.create_org(db, name="Other Ltd", website="https://other.example",
                               contact_email="privacy@other.example")
    db.commit()
    _row, token = new_token(db, other)
    body = register(client, metadata(), token).json
    assert db.scalar(select(VendorApp.org_id).where(VendorApp.client_id == body["client_id"])) == other.id
    assert apps_of(db, org) == 0


# --- the last use, raced ----------------------------------------------------------------------------

def test_two_registrations_racing_for_the_last_use_cannot_both_spend_it(fresh_database, instance_path):
    """Real commits on separate connections: the second UPDATE waits for the first and then finds
    no use left (PostgreSQL re-checks the WHERE after the lock; SQLite serialises the writers)."""
    with committing_app(fresh_database, instance_path) as (_application, inst, _ctx):
        setup = inst.sessions()
        org = clients.create_org(setup, name="Race Ltd", website="https://race.example",
                                 contact_email="privacy@race.example")
        row, token = initial_tokens.issue(setup, org, label="race", hours=1)
        setup.commit()
        token_id = row.id
        setup.close()

        first, second = inst.sessions(), inst.sessions()
        try:
            row_a = initial_tokens.authenticate(first, token)
            row_b = initial_tokens.authenticate(second, token)
            assert row_a is not None and row_b is not None  # both saw one use left
            assert initial_tokens.consume(first, row_a)
            outcome = {}
            worker = threading.Thread(target=lambda: outcome.setdefault("b", initial_tokens.consume(second, row_b)))
            worker.start()
            worker.join(timeout=0.5)
            first.commit()
            worker.join(timeout=30)
            assert not worker.is_alive()
            second.commit()
            assert outcome["b"] is False
        finally:
            first.close()
            second.close()
        check = inst.sessions()
        assert check.get(InitialAccessToken, token_id).uses == 1
        check.close()
