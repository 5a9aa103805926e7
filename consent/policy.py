"""The one place that decides which vault fields an app may read or write, at this instant.

Every read or write path asks :func:`permitted_fields` (or :func:`decide`) and acts on nothing
else. The answer depends only on the grant's live state and the clock: a revoked grant or one
past its expiry instant yields the empty set, whatever any token says.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.clock import as_utc, utcnow

from .errors import GrantInactive, GrantNotFound
from .models import Grant
from .scopes import PSEUDO_FIELDS, SCOPES


class GrantState(Protocol):
    status: str
    expires_at: datetime | None
    scopes: list[str]
    fields: list[str] | None


def is_live(grant: GrantState, now: datetime) -> bool:
    """Active and not yet at its expiry instant (expiry is exclusive: at ``expires_at`` it ends)."""
    expires = as_utc(grant.expires_at)
    return grant.status == "active" and (expires is None or as_utc(now) < expires)


def effective_scopes(grant: GrantState, token_scopes: Iterable[str] | None = None) -> frozenset[str]:
    """Grant scopes, further limited by the token's scopes when a token is involved."""
    scopes = frozenset(grant.scopes)
    if token_scopes is not None:
        scopes &= frozenset(token_scopes)
    return scopes


def permitted_fields(grant: GrantState | None, access: str = "read", *, now: datetime | None = None,
                     token_scopes: Iterable[str] | None = None) -> frozenset[str]:
    """The fields this grant lets its app ``access`` ("read" or "write") right now."""
    if grant is None or not is_live(grant, now or utcnow()):
        return frozenset()
    fields = {f for s in effective_scopes(grant, token_scopes)
              if s in SCOPES and SCOPES[s].access == access for f in SCOPES[s].fields}
    if grant.fields is not None:
        # Narrowing applies to vault fields; pseudo-fields (purchases, cases...) follow their scope.
        narrowed = set(grant.fields)
        fields = {f for f in fields if f in narrowed or f in PSEUDO_FIELDS}
    return frozenset(fields)


def shared_fields(grant: GrantState) -> frozenset[str]:
    """Every field the grant covers, read or write, after narrowing (what receipts list)."""
    fields = {f for s in grant.scopes if s in SCOPES for f in SCOPES[s].fields}
    if grant.fields is not None:
        fields = {f for f in fields if f in set(grant.fields) or f in PSEUDO_FIELDS}
    return frozenset(fields)


@dataclass(frozen=True)
class Decision:
    grant: Grant
    fields: frozenset[str]


def decide(db: Session, account_id: int, app_id: int, access: str = "read", *,
           now: datetime | None = None, token_scopes: Iterable[str] | None = None) -> Decision:
    """Look the grant up and decide; raises if there is none or it is no longer live."""
    grant = db.scalar(select(Grant).where(Grant.account_id == account_id, Grant.app_id == app_id))
    if grant is None:
        raise GrantNotFound("This customer has not granted this app anything.")
    now = now or utcnow()
    if not is_live(grant, now):
        raise GrantInactive("The customer's consent was withdrawn or has expired.")
    return Decision(grant, permitted_fields(grant, access, now=now, token_scopes=token_scopes))
