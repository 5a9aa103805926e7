"""Grant, widen, narrow, renew, revoke and expire consent.

Every operation validates first, then changes the grant, appends one ledger entry and issues one
signed receipt and emits one event for the app (:mod:`consent.events`) — all in the caller's transaction (flush, never commit), so a change is either
wholly recorded or not at all. Widening only happens through :func:`grant`, i.e. through the
customer's own approval on the consent screen.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.clock import utcnow
from vault.models import Account

from . import events, issuing, ledger, notifications, terms
from .context import ConsentContext
from .errors import GrantNotFound, InvalidConsentChange
from .models import DEFAULT_TERM_DAYS, TERMS, ConsentReceipt, Grant, VendorApp
from .pairwise import pairwise_subject
from .policy import is_live, shared_fields
from .scopes import PSEUDO_FIELDS, SCOPES, UnknownScope


@dataclass(frozen=True)
class Change:
    """What an operation did: the grant after it, the event name and its receipt."""

    grant: Grant
    event: str
    receipt: ConsentReceipt | None


def _expiry(now: datetime, term_days: int | None) -> datetime | None:
    if term_days not in TERMS:
        raise InvalidConsentChange("Choose an expiry of 30, 90 or 365 days, or until you revoke it.")
    return None if term_days is None else now + timedelta(days=term_days)


def _check_in_service(app: VendorApp) -> None:
    if not app.is_active:
        raise InvalidConsentChange(f"{app.name} has been retired by its vendor and cannot receive consent.")


def _check_scopes(app: VendorApp, scopes) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise UnknownScope(unknown[0])
    not_requested = [s for s in scopes if s not in app.requested_scopes]
    if not_requested:
        raise InvalidConsentChange(f"{app.name} did not ask for {', '.join(not_requested)}.")
    if not scopes:
        raise InvalidConsentChange("Choose at least one kind of data to share, or deny the request.")
    return scopes


def _check_fields(scopes, fields) -> list[str] | None:
    if fields is None:
        return None
    covered = {f for s in scopes for f in SCOPES[s].fields} - PSEUDO_FIELDS
    stray = set(fields) - covered
    if stray:
        raise InvalidConsentChange(f"Fields outside the chosen scopes: {', '.join(sorted(stray))}.")
    return sorted(set(fields))


def _record(db: Session, ctx: ConsentContext, grant: Grant, customer: Account, event: str, now: datetime,
            *, actor: str, actor_role: str, notice: str | None = None) -> Change:
    """``notice``: what to tell the customer, when it is not the event itself (a revocation
    because the vendor retired its app is not a withdrawal to warn the customer about)."""
    grant.updated_at = now
    db.flush()
    receipt = issuing.issue(db, ctx, grant, customer, event, now)
    ledger.append(db, type=event, actor=actor, actor_role=actor_role, chain=customer.public_id,
                  vendor_app=grant.app.client_id, scopes=grant.scopes, fields=sorted(shared_fields(grant)),
                  purpose=grant.purpose, now=now,
                  details={"grant": grant.public_id, "receipt": receipt.id,
                           "expires_at": grant.expires_at.isoformat() if grant.expires_at else None})
    events.emit_grant_change(db, grant, event, now)  # the app hears of it iff this commits
    notifications.on_grant_change(db, customer, grant, notice or event, now)  # so does the customer
    return Change(grant, event, receipt)


def in_force(grant_row: Grant, now: datetime) -> bool:
    """Live, and its app still in service: what the portal shows as active. A retired app's grants
    are ended by the worker within a round; until then its tokens already read nothing."""
    return is_live(grant_row, now) and grant_row.app.is_active


def find(db: Session, customer_id: int, app_id: int) -> Grant | None:
    return db.scalar(select(Grant).where(Grant.account_id == customer_id, Grant.app_id == app_id))


def get_for_customer(db: Session, customer_id: int, grant_public_id: str) -> Grant:
    """A customer's own grant by its public id; another customer's id is simply not found."""
    grant = db.scalar(select(Grant).where(Grant.public_id == grant_public_id, Grant.account_id == customer_id))
    if grant is None:
        raise GrantNotFound("No such connection.")
    return grant


def list_for_customer(db: Session, customer_id: int) -> list[Grant]:
    return list(db.scalars(select(Grant).where(Grant.account_id == customer_id)
                           .order_by(Grant.status, Grant.updated_at.desc())))


def grant(db: Session, ctx: ConsentContext, *, customer: Account, app: VendorApp, scopes,
          fields=None, term_days: int | None = DEFAULT_TERM_DAYS, now: datetime | None = None) -> Change:
    """The customer approves ``scopes`` (optionally narrowed to ``fields``) for ``app``.

    A live grant is widened (scopes added, never silently removed) and its term restarts; a
    revoked or expired one is replaced by the new approval.
    """
    now = now or utcnow()
    _check_in_service(app)
    scopes = _check_scopes(app, scopes)
    fields = _check_fields(scopes, fields)
    expires_at = _expiry(now, term_days)
    existing = find(db, customer.id, app.id)
    if existing is not None and is_live(existing, now):
        old_scopes = set(existing.scopes)
        old_fields = existing.fields
        merged_scopes = sorted(old_scopes | set(scopes))
        if old_fields is None and fields is None:
            merged_fields = None
        else:
            def all_of(sc):
                return {f for s in sc for f in SCOPES[s].fields} - PSEUDO_FIELDS
            merged_fields = sorted(set(old_fields if old_fields is not None else all_of(old_scopes))
                                   | set(fields if fields is not None else all_of(scopes)))
        event = "widen" if set(merged_scopes) != old_scopes or merged_fields != old_fields else "renew"
        existing.scopes, existing.fields = merged_scopes, merged_fields
        existing.term_days, existing.expires_at = term_days, expires_at
        if existing.terms_agreement is None:  # an agreement, once made, stays as it was made
            existing.terms_agreement = terms.agreement(db, customer, app, now)
        return _record(db, ctx, existing, customer, event, now, actor=customer.public_id, actor_role="customer")
    if existing is None:
        existing = Grant(account_id=customer.id, app_id=app.id, app=app, created_at=now,
                         subject=pairwise_subject(ctx.pairwise_secret, customer.public_id, app.client_id))
        db.add(existing)
    existing.scopes, existing.fields = scopes, fields
    existing.purpose, existing.purpose_category, existing.lawful_basis = \
        app.purpose, app.purpose_category, app.lawful_basis
    existing.status, existing.granted_at, existing.revoked_at = "active", now, None
    existing.term_days, existing.expires_at = term_days, expires_at
    existing.terms_agreement = terms.agreement(db, customer, app, now)
    return _record(db, ctx, existing, customer, "grant", now, actor=customer.public_id, actor_role="customer")


def narrow(db: Session, ctx: ConsentContext, grant_row: Grant, customer: Account, *, scopes=None,
           fields=None, now: datetime | None = None) -> Change:
    """Share less: keep only ``scopes`` and/or only ``fields``. Removing every scope revokes."""
    now = now or utcnow()
    if not is_live(grant_row, now):
        raise InvalidConsentChange("This connection is no longer active.")
    current_scopes = set(grant_row.scopes)
    new_scopes = current_scopes if scopes is None else set(scopes)
    if new_scopes - current_scopes:
        raise InvalidConsentChange("Narrowing cannot add scopes: the vendor must ask you again.")
    if not new_scopes:
        return revoke(db, ctx, grant_row, customer, now=now)
    current_fields = {f for s in new_scopes for f in SCOPES[s].fields} - PSEUDO_FIELDS
    if grant_row.fields is not None:
        current_fields &= set(grant_row.fields)
    new_fields = current_fields if fields is None else set(fields)
    if new_fields - current_fields:
        raise InvalidConsentChange("Narrowing cannot add fields: the vendor must ask you again.")
    all_fields = {f for s in new_scopes for f in SCOPES[s].fields} - PSEUDO_FIELDS
    grant_row.scopes = sorted(new_scopes)
    grant_row.fields = None if new_fields == all_fields else sorted(new_fields)
    return _record(db, ctx, grant_row, customer, "narrow", now, actor=customer.public_id, actor_role="customer")


def renew(db: Session, ctx: ConsentContext, grant_row: Grant, customer: Account, *,
          term_days: int | None = DEFAULT_TERM_DAYS, now: datetime | None = None) -> Change:
    """Restart the term from now. A withdrawn grant cannot be renewed: the vendor must ask again.

    Every check comes before the first change: a refused renewal must leave the grant as it was
    (a term stored unchecked broke every later one-click renewal, or the commit itself).
    """
    now = now or utcnow()
    if grant_row.status == "revoked":
        raise InvalidConsentChange("You withdrew this consent; the vendor must ask you again.")
    _check_in_service(grant_row.app)
    expires_at = _expiry(now, term_days)
    grant_row.status, grant_row.term_days, grant_row.expires_at = "active", term_days, expires_at
    return _record(db, ctx, grant_row, customer, "renew", now, actor=customer.public_id, actor_role="customer")


def revoke(db: Session, ctx: ConsentContext, grant_row: Grant, customer: Account, *,
           now: datetime | None = None, actor: str | None = None, actor_role: str = "customer",
           notice: str | None = None) -> Change:
    """Withdraw consent. Effective for the very next vendor call: policy reads the live status."""
    now = now or utcnow()
    if grant_row.status == "revoked":
        return Change(grant_row, "revoke", None)
    grant_row.status, grant_row.revoked_at = "revoked", now
    return _record(db, ctx, grant_row, customer, "revoke", now,
                   actor=actor or customer.public_id, actor_role=actor_role, notice=notice)


def end_for_retired_apps(db: Session, ctx: ConsentContext, *, now: datetime | None = None,
                         limit: int = 500) -> list[Change]:
    """End the live grants of apps their vendors retired: each becomes ``revoked`` by the vendor,
    with a ledger entry and a receipt like a withdrawal, and an ``app_retired`` notice to the
    customer (not the withdrawal notice, which tells them to change their password).

    Reads already stop when the app is retired (its tokens are revoked and the token check reads
    the app's state); this sweep, run by the worker in batches, makes the end visible to each
    customer without making the vendor's retirement wait on every one of its grants. Safe beside
    other workers for the same reason as :func:`expire_due`.
    """
    now = now or utcnow()
    retired = db.scalars(select(VendorApp.id).where(VendorApp.is_active.is_(False))).all()
    if not retired:  # the usual round: one look at the (small) apps table
        return []
    # By ix_grants_app_status; no ORDER BY, which could walk every grant in id order instead.
    due = db.scalars(select(Grant).where(Grant.app_id.in_(retired), Grant.status == "active")
                     .limit(limit).with_for_update(of=Grant, skip_locked=True)).all()
    return [revoke(db, ctx, row, db.get(Account, row.account_id), now=now, actor=row.app.client_id,
                   actor_role="vendor", notice="retire") for row in due]


def expire_due(db: Session, ctx: ConsentContext, *, now: datetime | None = None, limit: int = 500) -> list[Change]:
    """Mark grants past their expiry as expired, with a ledger entry and a receipt each.

    Reads already stop at the expiry instant (policy compares the clock); this sweep makes the
    status visible and tells the record. Safe to run from several workers: each row is updated
    once because the status check is part of the selection.
    """
    now = now or utcnow()
    due = db.scalars(select(Grant).where(Grant.status == "active", Grant.expires_at.is_not(None),
                                         Grant.expires_at <= now).order_by(Grant.expires_at).limit(limit)
                     .with_for_update(of=Grant, skip_locked=True)).all()
    changes = []
    for row in due:
        customer = db.get(Account, row.account_id)
        row.status = "expired"
        changes.append(_record(db, ctx, row, customer, "expire", now, actor="system", actor_role="system"))
    return changes
