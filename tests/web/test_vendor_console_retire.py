"""The console's part in managing an app's life: a registration access token for RFC 7592 tooling,
and retiring the app (owners only), after which nothing about it can be changed."""
from __future__ import annotations

from sqlalchemy import select

from consent.models import VendorMember
from tests.conftest import STRONG_PASSWORD, Portal
from tests.web.test_vendor_console import (  # noqa: F401 - owner is a fixture
    app_row, client_credentials, create_app, invite, owner, shown_secret, text)
from vendor_api.credentials import digest


def test_an_owner_retires_an_app_and_it_stops_working_at_once(app, db, owner):
    client_id, secret = create_app(owner)
    page = f"/console/apps/{client_id}"
    assert "Retire the app" in text(owner.portal.client.get(page))
    assert client_credentials(owner.portal.client, client_id, secret).status_code == 200

    response = owner.portal.post(f"{page}/retire", {}, form_path=page)
    assert response.status_code == 303 and response.headers["Location"] == page
    vendor_app, client = app_row(db, client_id)
    assert vendor_app.is_active is False and vendor_app.retired_at is not None
    assert client_credentials(owner.portal.client, client_id, secret).status_code == 401
    shown = text(owner.portal.client.get(page))
    assert "Retired on" in shown and "Rotate the client secret" not in shown and "Retire the app" not in shown
    assert "retired" in text(owner.portal.client.get(f"/console/orgs/{owner.org.id}"))


def test_a_retired_app_cannot_be_changed_in_the_console(app, db, owner):
    client_id, _secret = create_app(owner)
    page = f"/console/apps/{client_id}"
    owner.portal.post(f"{page}/retire", {}, form_path=page)
    before = app_row(db, client_id)[1].client_secret_hash
    for path in (f"{page}/secret", f"{page}/edit", f"{page}/registration-token", f"{page}/retire",
                 f"{page}/webhooks/test"):
        refused = owner.portal.post(path, {"name": "Renamed"}, form_path=f"/console/orgs/{owner.org.id}/apps/new")
        assert refused.status_code == 303 and refused.headers["Location"] == page, path
    assert owner.portal.client.get(f"{page}/edit").status_code == 303
    assert "nothing about it can be changed" in text(owner.portal.client.get(page))
    hooks = text(owner.portal.client.get(f"{page}/webhooks"))
    assert "No more events are sent." in hooks and "Save the URL" not in hooks and "Turn webhooks on" not in hooks
    vendor_app, client = app_row(db, client_id)
    assert client.client_secret_hash == before and vendor_app.name == "Corner Shop"


def _colleague(app, owner) -> Portal:
    """A member (not an owner) of the owner's organisation, logged in."""
    token = invite(owner, "colleague@shop.example").rsplit("/", 1)[1]
    colleague = Portal(app.test_client())
    joined = colleague.post(f"/console/invite/{token}", {"password": STRONG_PASSWORD,
                                                        "password_confirm": STRONG_PASSWORD})
    assert joined.status_code == 303
    return colleague


def test_only_owners_can_retire(app, db, owner):
    client_id, secret = create_app(owner)
    colleague = _colleague(app, owner)
    page = f"/console/apps/{client_id}"
    assert "Retire the app" not in text(colleague.client.get(page))
    assert colleague.post(f"{page}/retire", {}, form_path=page).status_code == 403
    assert app_row(db, client_id)[0].is_active is True
    assert db.scalar(select(VendorMember.role).where(VendorMember.org_id == owner.org.id,
                                                     VendorMember.role == "member")) == "member"


def test_a_registration_token_from_the_console_opens_rfc_7592_management(app, db, owner):
    client_id, _secret = create_app(owner)
    page = f"/console/apps/{client_id}"
    assert "No registration access token is in use." in text(owner.portal.client.get(page))
    response = owner.portal.post(f"{page}/registration-token", {}, form_path=page)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = shown_secret(response)
    assert token.startswith("vv_rat_") and f"http://localhost/oauth/register/{client_id}" in text(response)
    assert app_row(db, client_id)[1].registration_token_hash == digest(token)
    assert "A registration access token is in use." in text(owner.portal.client.get(page))

    tooling = app.test_client()
    read = tooling.get(f"/oauth/register/{client_id}", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200 and read.json["client_name"] == "Corner Shop"
    # a newer token from the console replaces the one the tooling now holds
    again = shown_secret(owner.portal.post(f"{page}/registration-token", {}, form_path=page))
    stale = tooling.get(f"/oauth/register/{client_id}",
                        headers={"Authorization": f"Bearer {read.json['registration_access_token']}"})
    assert stale.status_code == 401
    assert tooling.delete(f"/oauth/register/{client_id}", headers={"Authorization": f"Bearer {again}"}).status_code == 204
    assert app_row(db, client_id)[0].is_active is False


def test_only_owners_issue_registration_tokens_which_can_retire_the_app(app, db, owner):
    """A member who may not retire the app may not hold what retires it through RFC 7592 either."""
    client_id, _secret = create_app(owner)
    colleague = _colleague(app, owner)
    page = f"/console/apps/{client_id}"
    assert "Issue a registration access token" not in text(colleague.client.get(page))
    assert colleague.post(f"{page}/registration-token", {}, form_path=page).status_code == 403
    assert app_row(db, client_id)[1].registration_token_hash is None
    assert "Issue a registration access token" in text(owner.portal.client.get(page))
