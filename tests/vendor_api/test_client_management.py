"""Client management for dynamically registered clients (RFC 7592), and retiring an app.

A client registered with an initial access token gets a registration access token and its
``registration_client_uri``. With them it reads (GET), replaces (PUT) and deletes (DELETE) its
registration. Each read or replacement answers with a new token and spends the one presented.
Deleting retires the app: at once nothing of it works at any OAuth endpoint or the API, and the
worker then ends its customers' grants, each visibly in the customer's log.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from consent import grants, ledger
from consent.errors import InvalidConsentChange
from consent.models import Grant, VendorApp
from consent.notifications import Notification
from tests.vendor_api.conftest import REDIRECT_URI, Flow, Vendor, ctx_for, direct_token
from tests.vendor_api.integration_helpers import committing_app
from tests.vendor_api.test_registration import metadata, new_token, org, register  # noqa: F401 - org is a fixture
from tests.web.test_vendor_console import app_row as stored
from vendor_api import clients, webhooks
from vendor_api.credentials import digest
from vendor_api.models import AuthorizationCode, Token
from vendor_api.registration import REGISTRATION_PATH


@pytest.fixture
def registered(client, db, org) -> dict:
    """The RFC 7591 answer for a client registered through the endpoint."""
    _row, token = new_token(db, org)
    response = register(client, metadata(grant_types=["authorization_code", "refresh_token", "client_credentials"]),
                        token)
    assert response.status_code == 201, response.json
    return response.json


def manage(client, method: str, client_id: str, token: str | None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(f"{REGISTRATION_PATH}/{client_id}", method=method, headers=headers, **kwargs)


def assert_401(response):
    assert response.status_code == 401, response.json
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="client-registration"')
    assert response.headers["Cache-Control"] == "no-store"


# --- what registration now gives --------------------------------------------------------------

def test_registration_gives_a_registration_token_and_uri_and_keeps_only_a_digest(db, registered):
    token = registered["registration_access_token"]
    assert token.startswith("vv_rat_")
    assert registered["registration_client_uri"] == f"http://localhost/oauth/register/{registered['client_id']}"
    _app, oauth = stored(db, registered["client_id"])
    assert oauth.registration_token_hash == digest(token) != token


def test_a_console_made_client_has_no_registration_token(client, db, vendor):
    assert vendor.client.registration_token_hash is None
    assert_401(manage(client, "GET", vendor.client_id, "vv_rat_" + "x" * 43))


# --- read -------------------------------------------------------------------------------------

def test_get_answers_the_current_metadata_and_a_new_token_and_spends_the_old(client, db, registered):
    old = registered["registration_access_token"]
    response = manage(client, "GET", registered["client_id"], old)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body["scope"].split(" ")) == set(registered["scope"].split(" "))
    for member in ("client_id", "client_id_issued_at", "redirect_uris", "client_name", "client_uri", "grant_types", "response_types", "token_endpoint_auth_method", "purpose", "purpose_category",
                   "registration_client_uri"):
        assert body[member] == registered[member], member
    assert sorted(body) == sorted(set(registered) - {"client_secret"})  # the secret is never shown again
    assert body["registration_access_token"] != old
    assert_401(manage(client, "GET", registered["client_id"], old))
    assert manage(client, "GET", registered["client_id"], body["registration_access_token"]).status_code == 200


@pytest.mark.parametrize("presented", [None, "", "vv_rat_wrong", "vv_at_" + "a" * 43, "x" * 5000])
def test_a_missing_or_wrong_token_is_401_and_spends_nothing(client, db, registered, presented):
    headers = {"Authorization": f"Bearer {presented}"} if presented is not None else {}
    response = client.get(registered["registration_client_uri"], headers=headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert "WWW-Authenticate" in response.headers
    assert manage(client, "GET", registered["client_id"], registered["registration_access_token"]).status_code == 200


def test_one_clients_token_does_not_open_another_client_and_an_unknown_id_looks_the_same(client, db, org, registered):
    _row, token = new_token(db, org)
    second = register(client, metadata(client_name="Second"), token).json
    mine = registered["registration_access_token"]
    refused = manage(client, "GET", second["client_id"], mine)
    assert_401(refused)
    unknown = manage(client, "GET", "vv_app_nobody", mine)
    assert_401(unknown)
    assert unknown.json == refused.json
    # neither attempt spent anything
    assert manage(client, "GET", registered["client_id"], mine).status_code == 200
    assert manage(client, "GET", second["client_id"], second["registration_access_token"]).status_code == 200


def test_a_token_spent_by_a_racing_request_gets_no_successor(fresh_database, instance_path):
    """Two requests with the same token: the second, which read the row before the first wrote,
    finds its conditional UPDATE matching nothing (real commits, two connections)."""
    with committing_app(fresh_database, instance_path) as (_application, inst, _ctx):
        setup = inst.sessions()
        org = clients.create_org(setup, name="Race Ltd", website="https://race.example",
                                 contact_email="privacy@race.example")
        app, oauth, _secret = clients.register_app(setup, org=org, name="Racer", website="https://race.example",
                                                   purpose="Race.", scopes=["profile.name"],
                                                   redirect_uris=[REDIRECT_URI])
        token = clients.issue_registration_token(setup, oauth)
        setup.commit()
        first, second = inst.sessions(), inst.sessions()
        late = clients.by_client_id(second, app.client_id)  # read before the first request writes
        assert late.registration_token_hash == digest(token)
        winner = clients.replace_registration_token(first, clients.by_client_id(first, app.client_id), token)
        first.commit()
        assert winner is not None
        assert clients.replace_registration_token(second, late, token) is None
        second.rollback()
        check = inst.sessions()
        assert clients.by_client_id(check, app.client_id).registration_token_hash == digest(winner)
        for s in (setup, first, second, check):
            s.close()


# --- replace ----------------------------------------------------------------------------------

def test_put_replaces_the_metadata_and_answers_it_with_a_new_token(client, db, org, registered):
    body = metadata(client_name="Acme Books 2", redirect_uris=["https://acme.example/new-callback"],
                    scope="profile.name profile.email", grant_types=["authorization_code"],
                    token_endpoint_auth_method="client_secret_post", purpose="Only greet you.",
                    client_uri=None)
    response = manage(client, "PUT", registered["client_id"], registered["registration_access_token"],
                      json={**body, "client_id": registered["client_id"]})
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["client_name"] == "Acme Books 2" and set(answer["scope"].split(" ")) == {"profile.name",
                                                                                             "profile.email"}
    assert answer["redirect_uris"] == ["https://acme.example/new-callback"]
    assert answer["grant_types"] == ["authorization_code"] and answer["response_types"] == ["code"]
    assert answer["token_endpoint_auth_method"] == "client_secret_post"
    assert answer["client_uri"] == org.website  # left out: back to its default
    assert answer["registration_access_token"] != registered["registration_access_token"]
    app, oauth = stored(db, registered["client_id"])
    assert (app.name, app.purpose, sorted(app.requested_scopes)) == ("Acme Books 2", "Only greet you.",
                                                                     ["profile.email", "profile.name"])
    assert oauth.redirect_uris == ["https://acme.example/new-callback"]
    assert oauth.grant_types == ["authorization_code"] and oauth.token_endpoint_auth_method == "client_secret_post"
    assert oauth.registration_token_hash == digest(answer["registration_access_token"])
    # the client credentials grant it gave up no longer works
    refused = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": registered["client_id"],
                                                "client_secret": registered["client_secret"]})
    assert refused.status_code in (400, 401)


def test_put_may_echo_a_get_answer_and_the_right_secret(client, db, registered):
    read = manage(client, "GET", registered["client_id"], registered["registration_access_token"]).json
    echoed = {**read, "client_name": "Renamed", "client_secret": registered["client_secret"]}
    response = manage(client, "PUT", registered["client_id"], read["registration_access_token"], json=echoed)
    assert response.status_code == 200, response.json
    assert response.json["client_name"] == "Renamed"


@pytest.mark.parametrize("change, error", [
    ({"client_id": None}, "invalid_client_metadata"),
    ({"client_id": "vv_app_someone_else"}, "invalid_client_metadata"),
    ({"client_secret": "vv_cs_not_it"}, "invalid_client_metadata"),
    ({"client_secret": 12}, "invalid_client_metadata"),
    ({"client_name": None}, "invalid_client_metadata"),
    ({"scope": "profile.name nonsense"}, "invalid_client_metadata"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
    ({"client_uri": "ftp://acme.example"}, "invalid_client_metadata"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
])
def test_a_bad_put_is_400_and_changes_nothing_nor_spends_the_token(client, db, registered, change, error):
    body = {**metadata(client_name="Changed"), "client_id": registered["client_id"], **change}
    body = {k: v for k, v in body.items() if v is not None}
    token = registered["registration_access_token"]
    response = manage(client, "PUT", registered["client_id"], token, json=body)
    assert response.status_code == 400, response.json
    assert response.json["error"] == error and response.json["error_description"]
    app, oauth = stored(db, registered["client_id"])
    assert app.name == "Acme Books" and oauth.redirect_uris == [REDIRECT_URI]
    assert manage(client, "GET", registered["client_id"], token).status_code == 200


@pytest.mark.parametrize("kwargs", [{"data": "client_name=x"}, {"data": "[1,", "content_type": "application/json"},
                                    {"json": ["a list"]}])
def test_a_put_body_that_is_not_a_json_object_is_400(client, registered, kwargs):
    response = manage(client, "PUT", registered["client_id"], registered["registration_access_token"], **kwargs)
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"


# --- delete: the app is retired -----------------------------------------------------------------

@pytest.fixture
def connected(app, client, portal, db, registered, filled_customer) -> dict:
    """The registered client with a live grant from a customer, an access token and a refresh token."""
    vendor_app, oauth = stored(db, registered["client_id"])
    flow = Flow(client, portal, Vendor(vendor_app, oauth, registered["client_secret"]))
    flow.login(filled_customer.email)
    issued = flow.tokens(share=["profile.name"])
    assert flow.api("/api/v1/me", issued["access_token"]).status_code == 200
    return {"flow": flow, "tokens": issued, "customer": filled_customer}


def test_delete_retires_the_app_at_once_everywhere(app, client, db, registered, connected):
    flow, issued = connected["flow"], connected["tokens"]
    response = manage(client, "DELETE", registered["client_id"], registered["registration_access_token"])
    assert response.status_code == 204 and response.get_data() == b""

    vendor_app, oauth = stored(db, registered["client_id"])
    assert vendor_app.is_active is False and vendor_app.retired_at is not None
    assert oauth.registration_token_hash is None
    assert db.scalar(select(Token).where(Token.app_id == vendor_app.id, Token.revoked_at.is_(None))) is None
    # the API, the token endpoint (every grant type), introspection and client management refuse it
    assert flow.api("/api/v1/me", issued["access_token"]).status_code == 401
    basic = (registered["client_id"], registered["client_secret"])
    for data in ({"grant_type": "client_credentials"},
                 {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}):
        refused = client.post("/oauth/token", data=data, auth=basic)
        assert refused.status_code == 401 and refused.json["error"] == "invalid_client", refused.json
    assert client.post("/oauth/introspect", data={"token": issued["access_token"]}, auth=basic).status_code == 401
    assert_401(manage(client, "DELETE", registered["client_id"], registered["registration_access_token"]))
    # the consent screen does not offer it to anyone
    path, _verifier, _state = flow.authorize_url()
    page = client.get(path)
    assert page.status_code == 400 and "Acme Books" not in page.get_data(as_text=True)


def test_retiring_spends_unused_codes(app, client, db, registered, connected):
    location, verifier, _state = connected["flow"].code(share=["profile.name"])
    vendor_app, oauth = stored(db, registered["client_id"])
    clients.retire_app(db, vendor_app, oauth)
    db.commit()
    assert db.scalar(select(AuthorizationCode).where(AuthorizationCode.client_pk == oauth.id,
                                                     AuthorizationCode.used_at.is_(None))) is None


def test_the_worker_then_ends_each_grant_visibly_for_the_customer(app, client, db, registered, connected):
    customer = connected["customer"]
    assert manage(client, "DELETE", registered["client_id"], registered["registration_access_token"]).status_code == 204
    vendor_app, _oauth = stored(db, registered["client_id"])
    grant = db.scalar(select(Grant).where(Grant.app_id == vendor_app.id))
    assert grant.status == "active"  # not yet: reads are already refused, the record follows

    summary = webhooks.run_once(app.extensions["vrm"].sessions, app.extensions["vrm"].keys, ctx_for(app))
    assert summary["ended"] == 1
    db.expire_all()
    assert grant.status == "revoked" and grant.revoked_at is not None
    entry = db.scalar(select(ledger.LedgerEntry).where(ledger.LedgerEntry.chain == customer.public_id)
                      .order_by(ledger.LedgerEntry.seq.desc()))
    assert (entry.type, entry.actor, entry.actor_role, entry.vendor_app) == \
        ("revoke", registered["client_id"], "vendor", registered["client_id"])
    told = db.scalars(select(Notification.event).where(Notification.account_id == customer.id)).all()
    assert "app_retired" in told and "grant_revoked" not in told  # not "was this you? change your password"
    assert ledger.verify(db, chain=customer.public_id).ok
    # a second round finds nothing left to end
    assert webhooks.run_once(app.extensions["vrm"].sessions, app.extensions["vrm"].keys, ctx_for(app))["ended"] == 0


def test_no_one_can_grant_a_retired_app(app, db, vendor, customer):
    clients.retire_app(db, vendor.app, vendor.client)
    with pytest.raises(InvalidConsentChange, match="retired"):
        grants.grant(db, ctx_for(app), customer=customer, app=vendor.app, scopes=["profile.name"])


def test_retiring_twice_changes_nothing_more(app, db, vendor, filled_customer):
    token = direct_token(db, app, filled_customer, vendor, ["profile.name"])
    assert clients.retire_app(db, vendor.app, vendor.client) == 1  # one row: access and refresh token
    first = vendor.app.retired_at
    assert clients.retire_app(db, vendor.app, vendor.client) == 0
    assert vendor.app.retired_at == first
    assert db.scalar(select(Token).where(Token.access_token_hash == digest(token))).revoked_at is not None


def test_the_sweep_leaves_live_apps_alone(app, db, vendor, other_vendor, filled_customer):
    direct_token(db, app, filled_customer, vendor, ["profile.name"])
    direct_token(db, app, filled_customer, other_vendor, ["profile.name"])
    clients.retire_app(db, other_vendor.app, other_vendor.client)
    ended = grants.end_for_retired_apps(db, ctx_for(app))
    assert [c.grant.app_id for c in ended] == [other_vendor.app.id]
    assert grants.find(db, filled_customer.id, vendor.app.id).status == "active"


def test_a_customer_cannot_renew_a_grant_of_a_retired_app(app, db, vendor, filled_customer):
    direct_token(db, app, filled_customer, vendor, ["profile.name"])
    grant = grants.find(db, filled_customer.id, vendor.app.id)
    grant.status = "expired"  # it ran out before the vendor retired the app: the sweep leaves it
    clients.retire_app(db, vendor.app, vendor.client)
    assert grants.end_for_retired_apps(db, ctx_for(app)) == []
    with pytest.raises(InvalidConsentChange, match="retired"):
        grants.renew(db, ctx_for(app), grant, filled_customer)
    assert grant.status == "expired"


def test_an_operator_retires_an_app_from_the_cli(app, db, vendor, filled_customer):
    token = direct_token(db, app, filled_customer, vendor, ["profile.name"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["vault", "vendor", "retire", vendor.client_id])
    assert result.exit_code == 0 and "1 token(s) revoked" in result.output, result.output
    db.expire_all()
    assert db.get(VendorApp, vendor.app.id).is_active is False
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = runner.invoke(args=["vault", "vendor", "retire", vendor.client_id])
    assert again.exit_code == 0 and "already retired" in again.output
    unknown = runner.invoke(args=["vault", "vendor", "retire", "vv_app_nobody"])
    assert unknown.exit_code == 1 and "No app with client id" in unknown.output


def test_the_customer_sees_the_app_retired_even_before_the_worker_runs(app, client, db, registered, connected):
    flow = connected["flow"]
    assert manage(client, "DELETE", registered["client_id"], registered["registration_access_token"]).status_code == 204
    vendor_app, _oauth = stored(db, registered["client_id"])
    grant = db.scalar(select(Grant).where(Grant.app_id == vendor_app.id))
    assert grant.status == "active"
    page = flow.portal.client.get(f"/me/connections/{grant.public_id}").get_data(as_text=True)
    assert "ended: Acme Ltd retired this app" in page and "Stop sharing with" not in page
    listing = flow.portal.client.get("/me/connections").get_data(as_text=True)
    assert "ended: Acme Ltd retired this app" in listing
    # nor is it offered as a vendor to open a service case with
    new_case = flow.portal.client.get("/me/cases/new")
    assert new_case.status_code == 200 and "Acme Books" not in new_case.get_data(as_text=True)
