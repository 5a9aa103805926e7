"""SECURITY.md 16 as a property: over random consent sets, /api/v1/me returns exactly the filled
fields the policy permits (plus ``sub``), and never anything else."""
from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import grants
from consent.policy import permitted_fields
from consent.scopes import PSEUDO_FIELDS, SCOPES
from vault import login_emails, records
from vault.models import Account
from vault.schemas import VAULT_FIELDS
from vendor_api import tokens
from vendor_api.schemas import MeSchema

from .conftest import ctx_for, make_vendor

READ_SCOPES = sorted(s.id for s in SCOPES.values() if s.access == "read")
VALUES = {
    "given_name": "Amira", "family_name": "Haddad", "display_name": "Amira H.",
    "emails": [{"address": "amira@example.org"}], "phones": [{"number": "+447700900123"}],
    "address_home": {"line1": "1 Home St", "city": "Leeds", "country": "GB"},
    "address_shipping": {"line1": "12 Rosemary Lane", "city": "Leeds", "country": "GB"},
    "address_billing": {"line1": "3 Bill Rd", "city": "York", "country": "GB"},
    "birth_date": "1988-04-17", "language": "en", "notes": "private",
    "channels": ["email"], "preferred_channel": "email",
    "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/London"},
    "max_contacts_per_week": 3, "interests": ["books"], "sizes": {"clothing": "M"},
}


@st.composite
def consent_sets(draw):
    granted = draw(st.lists(st.sampled_from(READ_SCOPES), min_size=1, unique=True))
    covered = sorted({f for s in granted for f in SCOPES[s].fields} - PSEUDO_FIELDS)
    narrowed = draw(st.none() | st.lists(st.sampled_from(covered), unique=True) if covered else st.none())
    token_scopes = draw(st.lists(st.sampled_from(granted), min_size=1, unique=True))
    filled = draw(st.lists(st.sampled_from(sorted(VALUES)), unique=True))
    return granted, narrowed, token_scopes, filled


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=consent_sets())
def test_sec16_me_holds_exactly_the_filled_permitted_fields(app, db, keys, client, case):
    granted, narrowed, token_scopes, filled = case
    vendor = make_vendor(db, scopes=READ_SCOPES)
    customer = Account(password_hash="-", role="customer")
    login_emails.of_session(db).assign(customer, f"p-{secrets.token_hex(6)}@example.com")
    db.add(customer)
    db.flush()
    if filled:
        records.write_fields(db, keys, customer, {f: VALUES[f] for f in filled})
    change = grants.grant(db, ctx_for(app), customer=customer, app=vendor.app, scopes=granted)
    if narrowed is not None:
        change = grants.narrow(db, ctx_for(app), change.grant, customer, fields=narrowed)
    issued = tokens.issue(db, app_id=vendor.app.id, scope=" ".join(token_scopes), grant_type="authorization_code",
                          grant=change.grant)
    db.commit()

    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued.access_token}"})
    assert response.status_code == 200
    body = response.json

    allowed = permitted_fields(change.grant, "read", token_scopes=token_scopes)
    assert set(body) - {"sub"} <= allowed
    assert set(body) == {"sub"} | (allowed & set(filled) & set(VAULT_FIELDS))
    assert "notes" not in body
    assert all(value is not None for value in body.values())
    assert MeSchema().dump(body) == body  # /me skips the dump (resources._already_in_shape)
    for name in set(body) - {"sub"}:
        assert body[name] == records.read_fields(db, keys, customer.id, {name})[name]
