"""Server-side portal sessions.

The browser's signed cookie carries only a random token; the row here is the session. Logging
out deletes the row, so a stolen cookie dies with it; "sign out other sessions" deletes the rest.
Tokens are stored as SHA-256 hashes, like every other bearer secret here.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .clock import utcnow
from .models import Account, LoginSession

#: last_seen_at is written at most this often, so browsing does not write on every page.
TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Session, account: Account, *, user_agent: str = "",
                  now: datetime | None = None) -> str:
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.add(LoginSession(token_hash=token_hash(token), account_id=account.id, created_at=now,
                        last_seen_at=now, user_agent=(user_agent or "")[:200]))
    db.flush()
    return token


def load_session(db: Session, token: str, *, idle: timedelta, absolute: timedelta,
                 now: datetime | None = None) -> tuple[Account, LoginSession] | None:
    """The account behind a live session token; an idle or too-old session is ended here."""
    if not token:
        return None
    now = now or utcnow()
    row = db.execute(select(LoginSession, Account).join(Account, Account.id == LoginSession.account_id)
                     .where(LoginSession.token_hash == token_hash(token))).first()
    if row is None:
        return None
    sess, account = row
    if now - sess.last_seen_at > idle or now - sess.created_at > absolute or not account.is_active:
        db.delete(sess)
        db.flush()
        return None
    if now - sess.last_seen_at > TOUCH_EVERY:
        sess.last_seen_at = now
    return account, sess


def end_session(db: Session, token: str) -> None:
    db.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))
    db.flush()


def end_other_sessions(db: Session, account_id: int, keep_token: str | None) -> int:
    query = delete(LoginSession).where(LoginSession.account_id == account_id)
    if keep_token:
        query = query.where(LoginSession.token_hash != token_hash(keep_token))
    return db.execute(query).rowcount or 0


def list_sessions(db: Session, account_id: int) -> list[LoginSession]:
    return list(db.scalars(select(LoginSession).where(LoginSession.account_id == account_id)
                           .order_by(LoginSession.last_seen_at.desc())))
