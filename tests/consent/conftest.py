"""Factories for consent tests: a vendor org and app, and the consent context of the test app."""
from __future__ import annotations

import secrets

import pytest

from consent.context import ConsentContext
from consent.models import VendorApp, VendorOrg
from consent.pairwise import derive_pairwise_secret

ALL_READ_SCOPES = ["profile.name", "profile.email", "profile.phone", "profile.birthdate", "address.shipping",
                   "address.billing", "preferences.communication", "preferences.interests", "preferences.sizes"]


def make_app(db, *, name="Acme Books", scopes=None, org=None) -> VendorApp:
    org = org or VendorOrg(name=f"{name} Ltd", website="https://acme.example", contact_email="privacy@acme.example")
    app = VendorApp(org=org, name=name, website="https://acme.example/app",
                    purpose="Send your orders and recommend books you may like.",
                    purpose_category="dpv:ServiceProvision", lawful_basis="dpv:Consent")
    app.requested_scopes = scopes or ALL_READ_SCOPES
    db.add(app)
    db.flush()
    return app


@pytest.fixture
def vendor_app(db):
    return make_app(db)


@pytest.fixture
def ctx(app) -> ConsentContext:
    inst = app.extensions["vrm"]
    return ConsentContext(signing=inst.signing, pairwise_secret=derive_pairwise_secret(inst.secret_key),
                          issuer_url="https://vault.example")


@pytest.fixture
def other_app(db):
    return make_app(db, name=f"Other {secrets.token_hex(2)}")
