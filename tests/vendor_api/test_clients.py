"""Registering vendor apps as OAuth clients (SECURITY.md 2, 10) and the vendor CLI."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from consent.models import VendorApp
from vault.errors import ValidationFailed
from vendor_api import clients
from vendor_api.models import OAuthClient

from .conftest import REDIRECT_URI


@pytest.fixture
def org(db):
    return clients.create_org(db, name="Acme Ltd", website="https://acme.example", contact_email="p@acme.example")


def _register(db, org, **overrides):
    kwargs = dict(org=org, name="Acme Books", website="https://acme.example", purpose="Orders.",
                  scopes=["profile.name"], redirect_uris=[REDIRECT_URI])
    kwargs.update(overrides)
    return clients.register_app(db, **kwargs)


@pytest.mark.parametrize("uri", [
    "http://app.acme.example/callback",          # plain http off loopback
    "http://10.0.0.5/callback",
    "https://app.acme.example/callback#frag",
    "https://*.acme.example/callback",
    "javascript:alert(1)",
    "ftp://acme.example/cb",
    "/relative/callback",
    "https://user:pw@acme.example/cb",
    "https://acme.example;evil/cb",
    " https://acme.example/cb",
])
def test_sec02_unsafe_redirect_uris_are_refused_at_registration(db, org, uri):
    with pytest.raises(ValidationFailed) as info:
        _register(db, org, redirect_uris=[uri])
    assert "redirect_uris" in info.value.errors


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8000/callback", "http://[::1]:8000/cb", "http://localhost/cb",
                                 "https://app.acme.example/cb?tenant=4", "https://app.acme.example:8443/cb"])
def test_sec02_https_and_loopback_redirect_uris_are_accepted(db, org, uri):
    _app, client, _secret = _register(db, org, redirect_uris=[uri])
    assert client.redirect_uris == [uri]


def test_registration_shows_the_secret_once_and_keeps_its_digest(db, org):
    app, client, secret = _register(db, org)
    assert secret.startswith("vv_cs_") and secret not in client.client_secret_hash
    assert client.check_client_secret(secret)
    assert client.grant_types == ["authorization_code", "refresh_token", "client_credentials"]
    assert clients.by_client_id(db, app.client_id) is client


def test_registration_refuses_unknown_scopes_and_purposes(db, org):
    with pytest.raises(ValidationFailed) as info:
        _register(db, org, scopes=["profile.everything"], purpose_category="dpv:Nope")
    assert {"scopes", "purpose_category"} <= set(info.value.errors)


def test_rotation_invalidates_the_old_secret(db, org):
    _app, client, secret = _register(db, org)
    new = clients.rotate_secret(db, client)
    assert new != secret and client.check_client_secret(new) and not client.check_client_secret(secret)
    assert client.secret_rotated_at is not None


def test_cli_creates_an_org_and_an_app_and_rotates_its_secret(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["vault", "vendor", "create-org", "--name", "CLI Ltd", "--website",
                                 "https://cli.example", "--contact-email", "privacy@cli.example"])
    assert result.exit_code == 0, result.output
    org_id = result.output.split("id ")[-1].strip(". \n")
    result = runner.invoke(args=["vault", "vendor", "create-app", "--org", org_id, "--name", "CLI App",
                                 "--website", "https://cli.example", "--purpose", "Testing.",
                                 "--scope", "profile.name", "--scope", "profile.email",
                                 "--redirect-uri", "https://cli.example/cb", "--json"])
    assert result.exit_code == 0, result.output
    creds = json.loads(result.output)
    client = clients.by_client_id(db, creds["client_id"])
    assert client.check_client_secret(creds["client_secret"])
    assert db.scalar(select(VendorApp).where(VendorApp.client_id == creds["client_id"])).requested_scopes == \
        ["profile.email", "profile.name"]

    result = runner.invoke(args=["vault", "vendor", "rotate-secret", creds["client_id"]])
    assert result.exit_code == 0 and "client_secret: vv_cs_" in result.output and "cannot be shown again" in result.output
    db.expire_all()
    assert not db.get(OAuthClient, client.id).check_client_secret(creds["client_secret"])


def cli_org(runner) -> str:
    """A new organisation made through the CLI: its id, as the CLI prints it."""
    made = runner.invoke(args=["vault", "vendor", "create-org", "--name", "X", "--website", "https://x.example",
                               "--contact-email", "p@x.example"])
    return made.output.split("id ")[-1].strip(". \n")


def cli_create_app(runner, org_id: str, *, purpose: str = "P", redirect_uri: str = "https://x.example/cb",
                   extra: tuple[str, ...] = ()):
    return runner.invoke(args=["vault", "vendor", "create-app", "--org", org_id, "--name", "X", "--website",
                               "https://x.example", "--purpose", purpose, "--scope", "profile.name",
                               "--redirect-uri", redirect_uri, *extra])


def test_cli_refuses_http_redirects_off_loopback(app):
    runner = app.test_cli_runner()
    result = cli_create_app(runner, cli_org(runner), redirect_uri="http://x.example/cb")
    assert result.exit_code == 1 and "loopback" in result.output


def test_cli_gives_a_sentence_not_a_traceback_for_odd_arguments(app):
    runner = app.test_cli_runner()
    for org in ("99999999999999999999", "0"):
        result = cli_create_app(runner, org)
        assert result.exit_code == 2 and "--org" in result.output and "Traceback" not in result.output, org
    for interval in ("-5", "nan", "inf"):
        result = runner.invoke(args=["vault", "worker", "--interval", interval])
        assert result.exit_code == 2 and "--interval" in result.output, interval
    long_org = runner.invoke(args=["vault", "vendor", "create-org", "--name", "N" * 5000, "--website",
                                   "https://x.example", "--contact-email", "p@x.example", "--jurisdiction", "J" * 300])
    assert long_org.exit_code == 1 and "120 characters or fewer" in long_org.output and "Traceback" not in long_org.output
    long_app = cli_create_app(runner, cli_org(runner), purpose="P" * 20000)
    assert long_app.exit_code == 1 and "2000 characters or fewer" in long_app.output
    unknown = runner.invoke(args=["vault", "ledger", "verify", "--customer", "c_nobody"])
    assert unknown.exit_code == 1 and "No ledger chain c_nobody" in unknown.output


def test_cli_gives_a_retired_app_no_new_secret(app, db):
    runner = app.test_cli_runner()
    created = cli_create_app(runner, cli_org(runner), extra=("--json",))
    client_id = json.loads(created.output)["client_id"]
    assert runner.invoke(args=["vault", "vendor", "retire", client_id]).exit_code == 0
    refused = runner.invoke(args=["vault", "vendor", "rotate-secret", client_id])
    assert refused.exit_code == 1 and "is retired" in refused.output and "vv_cs_" not in refused.output
