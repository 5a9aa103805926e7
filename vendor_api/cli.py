"""``flask --app wsgi vault vendor ...``: register vendor organisations and apps, rotate secrets;
and the demo step that gives ``vault demo`` a vendor app, a grant and a ready access token.

The group is attached to the ``vault`` command group by ``web`` (which owns the CLI); every
command is one transaction, committed at the end.
"""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from vault.db import unit_of_work as db_unit_of_work
from consent import grants as consent_grants
from consent import terms
from consent.context import ConsentContext
from consent.models import VendorApp, VendorOrg
from consent.pairwise import derive_pairwise_secret
from consent.policy import is_live
from consent.scopes import DPV_PURPOSES, SCOPES
from vault import clock
from vault.errors import ValidationFailed

from . import clients, tokens
from .models import AUTH_METHODS, GRANT_TYPES


def _unit_of_work():
    """A session that commits when the command succeeds and rolls back on any error."""
    return db_unit_of_work(current_app.extensions["vrm"].sessions)


def _fail(exc: ValidationFailed):
    for name, messages in exc.errors.items():
        click.echo(f"{name}: {'; '.join(messages)}", err=True)
    sys.exit(1)


@click.group("vendor")
def vendor_cli():
    """Vendor organisations and their apps (OAuth clients)."""


@vendor_cli.command("create-org")
@click.option("--name", required=True)
@click.option("--website", required=True)
@click.option("--contact-email", required=True, help="Where customers and officers reach the vendor.")
@click.option("--jurisdiction", default="EU", show_default=True)
@with_appcontext
def create_org(name, website, contact_email, jurisdiction):
    with _unit_of_work() as db:
        try:
            org = clients.create_org(db, name=name, website=website, contact_email=contact_email,
                                     jurisdiction=jurisdiction)
        except ValidationFailed as exc:
            _fail(exc)
        org_id = org.id
    click.echo(f"Organisation {name!r} created with id {org_id}.")


@vendor_cli.command("create-app")
@click.option("--org", "org_id", required=True, type=click.IntRange(1, 2**63 - 1),
              help="Organisation id (from create-org).")
@click.option("--name", required=True)
@click.option("--website", required=True)
@click.option("--purpose", required=True, help="What the data is for, in words a customer reads.")
@click.option("--purpose-category", default="dpv:ServiceProvision", show_default=True,
              type=click.Choice(sorted(DPV_PURPOSES)))
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(sorted(SCOPES)))
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="https, or http on 127.0.0.1/[::1]/localhost; matched exactly.")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES),
              help="Default: all of authorization_code, refresh_token, client_credentials.")
@click.option("--auth-method", default="client_secret_basic", show_default=True, type=click.Choice(AUTH_METHODS))
@click.option("--require-dpop", is_flag=True, help="Issue tokens only with a DPoP proof (RFC 9449).")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def create_app(org_id, name, website, purpose, purpose_category, scopes, redirect_uris, grant_types,
               auth_method, require_dpop, as_json):
    """Register an app; prints its client id and secret (the secret only this once)."""
    with _unit_of_work() as db:
        org = db.get(VendorOrg, org_id)
        if org is None:
            click.echo(f"No organisation with id {org_id}.", err=True)
            sys.exit(1)
        try:
            app, client, secret = clients.register_app(
                db, org=org, name=name, website=website, purpose=purpose, purpose_category=purpose_category,
                scopes=scopes, redirect_uris=redirect_uris, grant_types=grant_types or GRANT_TYPES,
                auth_method=auth_method)
        except ValidationFailed as exc:
            _fail(exc)
        client.require_dpop = require_dpop
        client_id = app.client_id
    _print_credentials(client_id, secret, as_json)


@vendor_cli.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def rotate_secret(client_id, as_json):
    """Issue a new client secret; the old one stops working at once."""
    with _unit_of_work() as db:
        client = clients.by_client_id(db, client_id)
        if client is None:
            click.echo(f"No app with client id {client_id}.", err=True)
            sys.exit(1)
        if not client.app.is_active:
            raise click.ClickException(f"{client_id} is retired: it gets no new secret.")
        secret = clients.rotate_secret(db, client)
    _print_credentials(client_id, secret, as_json)


@vendor_cli.command("retire")
@click.argument("client_id")
@with_appcontext
def retire(client_id):
    """Retire an app for good: its credentials and tokens stop working at once, and the worker
    ends its customers' grants (each with a ledger entry and a notice)."""
    with _unit_of_work() as db:
        client = clients.by_client_id(db, client_id)
        if client is None:
            raise click.ClickException(f"No app with client id {client_id}.")
        if not client.app.is_active:
            click.echo(f"{client_id} was already retired.")
            return
        revoked = clients.retire_app(db, client.app, client)
    click.echo(f"Retired {client_id}; {revoked} token(s) revoked. The worker ends its grants.")


@vendor_cli.command("accept-terms")
@click.argument("client_id")
@click.option("--term", "term_ids", multiple=True, help="A term id from /.well-known/vrm-terms (repeat); none: accept no terms.")
@with_appcontext
def accept_terms(client_id, term_ids):
    """Declare which of the customers' standard terms this app accepts (replaces the previous list)."""
    with _unit_of_work() as db:
        client = clients.by_client_id(db, client_id)
        if client is None:
            raise click.ClickException(f"No app with client id {client_id}.")
        try:
            now_accepted = terms.set_accepted(db, client.app, term_ids)
        except ValidationFailed as exc:
            _fail(exc)
    click.echo("Accepts: " + (", ".join(sorted(now_accepted)) or "no terms"))


def _print_credentials(client_id: str, secret: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
        return
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: only its hash is kept, it cannot be shown again.")


# --- demo ---------------------------------------------------------------------------------------

DEMO_ORG = "Demo Books Ltd"
DEMO_APP = "Demo Books"
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/callback"
DEMO_REQUESTED = ("profile.name", "profile.email", "address.shipping", "preferences.communication",
                  "preferences.interests", "purchases.read")
DEMO_GRANTED = ("profile.name", "profile.email", "preferences.interests")


def demo_context(inst) -> ConsentContext:
    return ConsentContext(signing=inst.signing, pairwise_secret=derive_pairwise_secret(inst.secret_key),
                          issuer_url=(inst.settings.base_url or "http://127.0.0.1:5000").rstrip("/"))


def demo_step(db, inst, customer) -> dict:
    """A demo vendor app with a grant from the demo customer and an access token valid for an hour.

    Re-running reuses the org, app and grant, rotates the client secret (only its hash is kept,
    so a fresh one is the only way to print one) and issues a new token.
    """
    now = clock.utcnow()
    org = db.scalar(select(VendorOrg).where(VendorOrg.name == DEMO_ORG))
    if org is None:
        org = clients.create_org(db, name=DEMO_ORG, website="https://books.example",
                                 contact_email="privacy@books.example")
    app = db.scalar(select(VendorApp).where(VendorApp.org_id == org.id, VendorApp.name == DEMO_APP))
    if app is None:
        app, client, secret = clients.register_app(
            db, org=org, name=DEMO_APP, website="https://books.example",
            purpose="Deliver your orders, and recommend books you may like.",
            purpose_category="dpv:ServiceProvision", scopes=DEMO_REQUESTED, redirect_uris=[DEMO_REDIRECT_URI])
        # the demo vendor accepts customers' own terms, so the consent screen shows an agreement
        terms.set_accepted(db, app, ["vrm-service-only", "vrm-service-personalised"], now=now)
    else:
        client = clients.for_app(db, app.id)
        secret = clients.rotate_secret(db, client, now=now)
    grant = consent_grants.find(db, customer.id, app.id)
    if grant is None or not is_live(grant, now) or not set(DEMO_GRANTED) <= set(grant.scopes):
        grant = consent_grants.grant(db, demo_context(inst), customer=customer, app=app,
                                     scopes=DEMO_GRANTED, term_days=90, now=now).grant
    issued = tokens.issue(db, app_id=app.id, scope=" ".join(DEMO_GRANTED), grant_type="demo", grant=grant,
                          with_refresh=False, now=now)
    return {"client_id": app.client_id, "client_secret": secret, "redirect_uri": DEMO_REDIRECT_URI,
            "scopes_granted": list(DEMO_GRANTED), "access_token": issued.access_token}
