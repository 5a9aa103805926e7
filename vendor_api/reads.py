"""What a vendor reads through the API, decided by consent.policy and recorded in the ledger.

Each function is one read request: decide the fields (the policy is the only judge), decrypt
exactly those, append one ledger entry naming the fields actually returned (never values).
"""
from __future__ import annotations

import json

from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from consent import ledger
from consent.models import Grant
from consent.policy import effective_scopes, permitted_fields
from vault import records
from vault.keys.service import KeyService
from vault.schemas import VAULT_FIELDS

from .protector import Caller

#: last_access_at is a hint for the customer's overview, not an audit record (the ledger is):
#: writing it at most this often keeps a write off most reads.
LAST_ACCESS_GRANULARITY = timedelta(minutes=5)


def touch(db: Session, caller: Caller, now: datetime) -> None:
    """Note the grant's last access, for every customer-token call (reads here, purchases, contact
    permission). Call it BEFORE the ledger append: every writer locks the grant row before the
    customer's chain head (grants.renew/revoke do too), so a call racing a renewal cannot deadlock."""
    last = caller.last_access_at
    if last is None or now - last >= LAST_ACCESS_GRANULARITY:
        db.execute(update(Grant).where(Grant.id == caller.grant_id).values(last_access_at=now)
                   .execution_options(synchronize_session=False))


def read_profile(db: Session, keys: KeyService, caller: Caller, *, now: datetime) -> dict:
    """The customer's values this token may read now: only consented, filled fields, plus ``sub``."""
    grant = caller.grant_state
    allowed = permitted_fields(grant, "read", now=now, token_scopes=caller.scopes) & frozenset(VAULT_FIELDS)
    if not allowed:
        values = {}
    elif caller.sealed is not None:  # fetched with the token (protector.reads_vault)
        values = records.open_rows(keys, caller.account_id, caller.sealed, allowed)
    else:
        values = records.read_fields(db, keys, caller.account_id, allowed)
    values = {k: v for k, v in values.items() if k in allowed and v is not None}
    touch(db, caller, now)
    ledger.append(db, type="read", actor=caller.client_id, actor_role="vendor", chain=caller.account_public_id,
                  vendor_app=caller.client_id, scopes=sorted(effective_scopes(grant, caller.scopes)),
                  fields=sorted(values), purpose=caller.purpose, now=now,
                  details={"endpoint": "me", "grant": caller.grant_public_id})
    return {"sub": caller.subject, **values}


def read_consent(db: Session, caller: Caller, *, now: datetime) -> dict:
    """What this app holds from the customer (itself a read: one ledger entry, no fields)."""
    grant = caller.grant_state
    scopes = sorted(effective_scopes(grant, caller.scopes))
    touch(db, caller, now)
    ledger.append(db, type="read", actor=caller.client_id, actor_role="vendor", chain=caller.account_public_id,
                  vendor_app=caller.client_id, scopes=scopes, fields=[], purpose=caller.purpose, now=now,
                  details={"endpoint": "consent", "grant": caller.grant_public_id})
    return {"sub": caller.subject, "scopes": scopes,
            "fields": sorted(permitted_fields(grant, "read", now=now, token_scopes=caller.scopes)),
            "write_fields": sorted(permitted_fields(grant, "write", now=now, token_scopes=caller.scopes)),
            "purpose": caller.purpose, "purpose_category": caller.purpose_category,
            "granted_at": caller.granted_at, "expires_at": caller.grant_expires_at, "status": "active"}


def app_summary(db: Session, caller: Caller, *, now: datetime) -> dict:
    """The app's registration and how many grants it holds, by state. No customer data."""
    from consent.models import VendorApp
    from .models import OAuthClient
    app = db.get(VendorApp, caller.app_id)
    client = db.scalar(select(OAuthClient).where(OAuthClient.app_id == app.id))
    state = case((Grant.status == "revoked", "revoked"),
                 ((Grant.status == "expired") | ((Grant.expires_at.is_not(None)) & (Grant.expires_at <= now)),
                  "expired"),
                 else_="active")
    counts = {"active": 0, "revoked": 0, "expired": 0}
    for name, count in db.execute(select(state, func.count()).where(Grant.app_id == app.id).group_by(state)):
        counts[name] = count
    return {"client_id": app.client_id, "name": app.name, "website": app.website, "purpose": app.purpose,
            "purpose_category": app.purpose_category, "lawful_basis": app.lawful_basis,
            "organisation": app.org.name, "requested_scopes": app.requested_scopes,
            "redirect_uris": client.redirect_uris, "grant_types": client.grant_types,
            "token_endpoint_auth_method": client.token_endpoint_auth_method, "created_at": app.created_at,
            "grants": counts}


def read_terms(db: Session, caller: Caller, *, now: datetime) -> dict:
    """The customer's proffered terms as this app accepted them when consent was given, or null.

    Like ``read_consent`` a read of the grant itself: one ledger entry, no fields.
    """
    agreement = db.scalar(select(Grant.terms_json).where(Grant.id == caller.grant_id))
    touch(db, caller, now)
    ledger.append(db, type="read", actor=caller.client_id, actor_role="vendor", chain=caller.account_public_id,
                  vendor_app=caller.client_id, scopes=[], fields=[], purpose=caller.purpose, now=now,
                  details={"endpoint": "terms", "grant": caller.grant_public_id})
    return {"sub": caller.subject, "agreed": agreement is not None,
            "agreement": json.loads(agreement) if agreement else None}

