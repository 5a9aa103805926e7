"""Removing what the authorization server no longer needs: spent and expired codes, tokens past
every expiry, DPoP proof ids past their replay window.

None of these rows can authorize anything any more (the checks compare expiry times), but left
alone they grow the tables that every token look-up and every code exchange reads. A day of
grace keeps recent rows for anyone investigating a replay. The worker runs this at most once an
hour per process; each round deletes in bounded batches, so a backlog drains over several rounds
instead of holding long locks.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from vault.clock import utcnow
from vault.db import unit_of_work

from .models import USABLE_UNTIL, AuthorizationCode, DPoPProofSeen, Token

GRACE = timedelta(days=1)
BATCH = 10_000
EVERY_SECONDS = 3600.0
_next_run = 0.0


def _delete_some(db: Session, key, condition) -> int:
    """Delete at most ``BATCH`` rows matching ``condition``, by their primary ``key`` column."""
    ids = db.scalars(select(key).where(condition).limit(BATCH)).all()
    if ids:
        db.execute(delete(key.class_).where(key.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)


def dead_tokens(cutoff: datetime):
    """Tokens whose access and refresh token both expired before ``cutoff``: USABLE_UNTIL (what
    the index holds) is the refresh expiry, or the access expiry when there is no refresh token;
    the second term keeps the access expiry in the test for a row whose refresh came first."""
    return (USABLE_UNTIL < cutoff) & (Token.expires_at < cutoff)


def purge(db: Session, now: datetime | None = None) -> dict:
    """One bounded pass; returns how many rows of each kind went (flushed, not committed)."""
    now = now or utcnow()
    cutoff = now - GRACE
    return {
        "codes_purged": _delete_some(db, AuthorizationCode.id, AuthorizationCode.expires_at < cutoff),
        "tokens_purged": _delete_some(db, Token.id, dead_tokens(cutoff)),
        "dpop_proofs_purged": _delete_some(db, DPoPProofSeen.jti_hash, DPoPProofSeen.expires_at < now),
    }


def purge_round(sessions: sessionmaker, now: datetime | None = None, *, force: bool = False) -> dict:
    """The worker's job: :func:`purge`, committed, at most once every ``EVERY_SECONDS``."""
    global _next_run
    if not force and time.monotonic() < _next_run:
        return {}
    _next_run = time.monotonic() + EVERY_SECONDS
    with unit_of_work(sessions) as db:
        return purge(db, now)
