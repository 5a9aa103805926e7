"""Glue between flask-login and the server-side sessions of vault.sessions."""
from __future__ import annotations

from datetime import timedelta

from flask import session
from flask_login import login_user, logout_user

from vault import sessions as vault_sessions
from vault.clock import utcnow
from vault.db import retry_if_lost_at_start
from vault.models import Account

from vendor_api.context import get_db, instance
from ..extensions import login_manager

SESSION_KEY = "vv_sid"
AUTH_AT_KEY = "vv_auth_at"


@login_manager.user_loader
def _load_user(user_id: str):
    settings = instance().settings
    db = get_db()
    # A signed-in page's first statement: a connection found dead here is replaced, not a 503.
    found = retry_if_lost_at_start(db, lambda: vault_sessions.load_session(
        db, session.get(SESSION_KEY, ""),
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours)))
    if found is None or str(found[0].id) != user_id:
        return None
    return found[0]


PENDING_KEY = "vv_pending_2fa"
#: The password step is good for this long while the person finds their authenticator app.
PENDING_SECONDS = 300


def await_second_factor(account: Account) -> None:
    session.clear()
    session[PENDING_KEY] = {"id": account.id, "at": utcnow().timestamp()}


def pending_account_id() -> int | None:
    pending = session.get(PENDING_KEY)
    if not pending or utcnow().timestamp() - pending["at"] > PENDING_SECONDS:
        return None
    return pending["id"]


def pending_account(db) -> Account | None:
    account_id = pending_account_id()
    return db.get(Account, account_id) if account_id is not None else None


def begin(account: Account, user_agent: str) -> None:
    """Log in with a brand-new session id (the old cookie content is dropped entirely)."""
    session.clear()
    token = vault_sessions.start_session(get_db(), account, user_agent=user_agent)
    session[SESSION_KEY] = token
    session[AUTH_AT_KEY] = utcnow().timestamp()
    session.permanent = True
    login_user(account)


def end() -> None:
    token = session.get(SESSION_KEY)
    if token:
        vault_sessions.end_session(get_db(), token)
    logout_user()
    session.clear()


def current_token() -> str | None:
    return session.get(SESSION_KEY)


def current_token_hash() -> str | None:
    token = current_token()
    return vault_sessions.token_hash(token) if token else None


def end_all_after_erase() -> None:
    """The account is gone (its session rows went with it): forget the browser's side too."""
    logout_user()
    session.clear()


def mark_reauthenticated() -> None:
    session[AUTH_AT_KEY] = utcnow().timestamp()


def recently_authenticated(within: timedelta = timedelta(minutes=5)) -> bool:
    at = session.get(AUTH_AT_KEY)
    return at is not None and utcnow().timestamp() - at <= within.total_seconds()
