"""Authorization server metadata (RFC 8414, SECURITY.md 5-6)."""
from __future__ import annotations

from authlib.oauth2 import rfc8414, rfc9207


def test_sec05_metadata_is_served_and_valid(client):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.json
    metadata = rfc8414.AuthorizationServerMetadata(data)
    metadata.validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])
    assert data["issuer"] == "http://localhost"
    assert data["authorization_endpoint"] == "http://localhost/oauth/authorize"
    assert data["token_endpoint"] == "http://localhost/oauth/token"
    assert data["revocation_endpoint"] == "http://localhost/oauth/revoke"
    assert data["introspection_endpoint"] == "http://localhost/oauth/introspect"
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["response_types_supported"] == ["code"]
    assert data["authorization_response_iss_parameter_supported"] is True
    assert set(data["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert "profile.name" in data["scopes_supported"] and "vendor:read" in data["scopes_supported"]


def test_sec06_metadata_offers_no_implicit_or_password_grant(client):
    grant_types = client.get("/.well-known/oauth-authorization-server").json["grant_types_supported"]
    assert set(grant_types) == {"authorization_code", "refresh_token", "client_credentials"}
    assert "implicit" not in grant_types and "password" not in grant_types


def test_sec05_every_advertised_endpoint_exists(client):
    data = client.get("/.well-known/oauth-authorization-server").json
    for key in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        path = data[key].removeprefix("http://localhost")
        assert client.post(path).status_code in (400, 401)
    assert client.get(data["authorization_endpoint"].removeprefix("http://localhost")).status_code == 400


def test_sec05_issuer_follows_the_configured_base_url(database_url, instance_path):
    from tests.conftest import make_test_app
    application = make_test_app(database_url, instance_path, base_url="https://vault.example/")
    try:
        data = application.test_client().get("/.well-known/oauth-authorization-server").json
        assert data["issuer"] == "https://vault.example"
        assert data["token_endpoint"] == "https://vault.example/oauth/token"
    finally:
        application.extensions["vrm"].dispose()
