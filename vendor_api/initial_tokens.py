"""Initial access tokens: what a vendor's tooling presents to register a client (RFC 7591 §3).

A member creates one in the console for their organisation; it is shown once, stored as a digest,
expires, and allows a bounded number of registrations (one by default). Each registration spends
one use with a single conditional UPDATE, so two registrations racing for the last use cannot
both succeed; the spend is part of the registration's transaction, so a registration that fails
afterwards (and rolls back) gives the use back.
"""
from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.models import VendorOrg
from vault.clock import utcnow
from vault.errors import NotFound, ValidationFailed

from .console_models import InitialAccessToken
from .credentials import digest, new_credential

PREFIX = "vv_iat_"
#: The lifetimes a member can choose, in hours (an hour to thirty days).
LIFETIMES_HOURS = (1, 24, 24 * 7, 24 * 30)
MAX_USES = 20
LABEL_MAX = 80


def issue(db: Session, org: VendorOrg, *, label: str, hours: int, max_uses: int = 1,
          created_by: int | None = None, now: datetime | None = None) -> tuple[InitialAccessToken, str]:
    """A new token for ``org``; returns the row and the token in plain text (shown once)."""
    now = now or utcnow()
    label = (label or "").strip()
    errors: dict[str, list[str]] = {}
    if not label or len(label) > LABEL_MAX:
        errors["label"] = [f"Give a name of 1 to {LABEL_MAX} characters."]
    if hours not in LIFETIMES_HOURS:
        errors["hours"] = ["Choose one of the offered lifetimes."]
    if not isinstance(max_uses, int) or not 1 <= max_uses <= MAX_USES:
        errors["max_uses"] = [f"Enter a number from 1 to {MAX_USES}."]
    if errors:
        raise ValidationFailed(errors)
    token = new_credential(PREFIX)
    row = InitialAccessToken(org_id=org.id, token_hash=digest(token), label=label, created_by=created_by,
                             created_at=now, expires_at=now + timedelta(hours=hours), max_uses=max_uses, uses=0)
    db.add(row)
    db.flush()
    return row, token


def list_for_org(db: Session, org_id: int) -> list[InitialAccessToken]:
    return list(db.scalars(select(InitialAccessToken).where(InitialAccessToken.org_id == org_id)
                           .order_by(InitialAccessToken.created_at.desc(), InitialAccessToken.id.desc())))


def revoke(db: Session, org_id: int, token_id: int, *, now: datetime | None = None) -> InitialAccessToken:
    row = db.get(InitialAccessToken, token_id)
    if row is None or row.org_id != org_id:
        raise NotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        db.flush()
    return row


def authenticate(db: Session, token: str | None, *, now: datetime | None = None) -> InitialAccessToken | None:
    """The usable token row for ``token``, or None (unknown, expired, revoked or used up)."""
    now = now or utcnow()
    if not token or not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
        return None
    hashed = digest(token)
    row = db.scalar(select(InitialAccessToken).where(InitialAccessToken.token_hash == hashed))
    if row is None or not hmac.compare_digest(row.token_hash, hashed) or row.state(now) != "usable":
        return None
    return row


def consume(db: Session, row: InitialAccessToken, *, now: datetime | None = None) -> bool:
    """Spend one use of ``row``; False when another request took the last one (or it lapsed)."""
    now = now or utcnow()
    table = InitialAccessToken.__table__
    result = db.execute(
        update(table)
        .where(table.c.id == row.id, table.c.uses < table.c.max_uses, table.c.revoked_at.is_(None),
               table.c.expires_at > now)
        .values(uses=table.c.uses + 1, last_used_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.refresh(row)
    return True
