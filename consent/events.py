"""Events for vendors: written in the caller's transaction, sent by webhook, read from the feed.

:func:`emit` is the one way to tell an app that something happened. It inserts the event (and,
when the app has a webhook endpoint, a pending delivery) and flushes, never commits: the event
exists exactly when the change that caused it commits. A revoke rolled back emits nothing.

Payloads identify the customer only by the app's pairwise ``sub`` and name fields, never values.

Event types: ``consent.granted``, ``consent.updated`` (``data.change`` is narrow, widen or renew),
``consent.revoked``, ``consent.expired``, ``profile.updated`` (``data.fields``: names of changed
fields inside the app's live grant), ``account.erased``, and ``webhook.test`` (webhook only, never
in the change feed). Other packages may add types of the same shape (``noun.verb``), e.g.
``intent.closed`` (:mod:`consent.intents`: to every bidder, ``data.accepted`` true only for the
chosen one; about no customer, so ``sub`` is null unless the chosen bidder already has a grant),
``case.opened`` / ``case.updated`` / ``case.escalated`` (:mod:`consent.cases`) and
``purchase.context_updated`` (:mod:`consent.purchases`). docs/webhooks.md lists every type with
its ``data``: keep it in step when adding one.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.clock import utcnow
from vault.models import Account

from .models import Grant
from .outbox import AppEvent, WebhookDelivery, WebhookEndpoint
from .policy import is_live, permitted_fields

#: The ledger's event names -> the webhook event type.
GRANT_EVENTS = {"grant": "consent.granted", "widen": "consent.updated", "narrow": "consent.updated",
                "renew": "consent.updated", "revoke": "consent.revoked", "expire": "consent.expired"}
#: Events after which the app is expected to delete what it holds and confirm it.
DELETION_EVENTS = ("consent.revoked", "consent.expired", "account.erased")
TEST_EVENT = "webhook.test"
_TYPE = re.compile(r"[a-z][a-z_]*(\.[a-z_]+)+")


def emit(db: Session, *, type: str, app_id: int, account_id: int | None, data: Mapping,
         now: datetime | None = None, grant: Grant | None = None) -> AppEvent:
    """Record event ``type`` for app ``app_id`` about customer ``account_id`` (or about no one).

    Call it inside the transaction that makes the change; it flushes and never commits. The
    customer must have a grant with the app (any status): its pairwise subject is the only id the
    app sees. Pass ``grant`` when you hold it, to save a lookup. ``data`` is JSON-ready and holds
    names, ids the app already knows and timestamps -- never vault values. Raises ValueError on a
    malformed type or a customer unknown to the app.
    """
    if not _TYPE.fullmatch(type):
        raise ValueError(f"Malformed event type {type!r}.")
    now = now or utcnow()
    subject = chain = None
    if account_id is not None:
        if grant is None:
            grant = db.scalar(select(Grant).where(Grant.account_id == account_id, Grant.app_id == app_id))
        if grant is None or grant.account_id != account_id or grant.app_id != app_id:
            raise ValueError("This app knows nothing of this customer: no grant.")
        account = db.get(Account, account_id)
        subject, chain = grant.subject, account.public_id if account is not None else None
    event = AppEvent(app_id=app_id, type=type, subject=subject, chain=chain, created_at=now,
                     data_json=json.dumps(dict(data), sort_keys=True, separators=(",", ":")),
                     in_feed=type != TEST_EVENT)
    db.add(event)
    db.flush()
    if db.get(WebhookEndpoint, app_id) is not None:
        db.add(WebhookDelivery(event_id=event.id, app_id=app_id, state="pending", attempts=0,
                               created_at=now, next_attempt_at=now))
        db.flush()
    return event


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def grant_facts(grant: Grant) -> dict:
    """What a consent event says about the grant: the app's own view of it, names only."""
    return {"grant": grant.public_id, "status": grant.status, "scopes": grant.scopes,
            "fields": grant.fields, "expires_at": _iso(grant.expires_at),
            "revoked_at": _iso(grant.revoked_at)}


def emit_grant_change(db: Session, grant: Grant, ledger_event: str, now: datetime) -> AppEvent:
    """The consent.* event for a grant operation (called by :mod:`consent.grants`)."""
    data = grant_facts(grant)
    if GRANT_EVENTS[ledger_event] == "consent.updated":
        data["change"] = ledger_event
    return emit(db, type=GRANT_EVENTS[ledger_event], app_id=grant.app_id, account_id=grant.account_id,
                data=data, now=now, grant=grant)


def notify_profile_change(db: Session, customer: Account, changed_fields: Iterable[str], *,
                          now: datetime | None = None) -> list[AppEvent]:
    """Tell every app with a live grant which of ``changed_fields`` it may read changed.

    Call it where the customer's values are saved, in the same transaction. Each app hears only
    the names inside its own grant (read access, after narrowing); an app for which none changed
    hears nothing.
    """
    now = now or utcnow()
    changed = set(changed_fields)
    if not changed:
        return []
    events = []
    for grant in db.scalars(select(Grant).where(Grant.account_id == customer.id, Grant.status == "active")
                            .order_by(Grant.app_id)):
        if not is_live(grant, now):
            continue
        visible = sorted(changed & permitted_fields(grant, "read", now=now))
        if visible:
            events.append(emit(db, type="profile.updated", app_id=grant.app_id, account_id=customer.id,
                               data={"fields": visible}, now=now, grant=grant))
    return events


def notify_erasure(db: Session, grants: Iterable[Grant], now: datetime) -> list[AppEvent]:
    """``account.erased`` to each app in ``grants`` (before the account and its grants go)."""
    return [emit(db, type="account.erased", app_id=g.app_id, account_id=g.account_id,
                 data={"erased_at": now.isoformat()}, now=now, grant=g) for g in grants]


def emit_test(db: Session, app_id: int, *, now: datetime | None = None) -> AppEvent:
    """A ``webhook.test`` event about no customer, so a vendor can check its receiver."""
    now = now or utcnow()
    return emit(db, type=TEST_EVENT, app_id=app_id, account_id=None,
                data={"message": "This is a test event from VRM Vault."}, now=now)
