"""Accounts: sign-up, authentication, officers, password changes, erasure of the account row.

Failure messages never say whether an account exists: a wrong password and an unknown email
read the same and cost the same time.
"""
from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import login_emails
from .clock import utcnow
from .errors import AccountError, ValidationFailed
from .models import ROLES, Account, LoginSession
from .passwords import hash_password, needs_rehash, password_problem, verify_password

LOGIN_FAILED = "That email and password do not match an account."
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


normalise_email = login_emails.normalise


def email_problem(email: str) -> str | None:
    if not _EMAIL.match(email) or len(email) > 254:
        return "Enter an email address like name@example.com."
    return None


def find_by_email(db: Session, email: str) -> Account | None:
    """Found by the keyed hash of the address: nothing is decrypted to look for it."""
    return db.scalar(select(Account).where(Account.email_lookup == login_emails.of_session(db).lookup(email)))


def sign_up(db: Session, email: str, password: str, *, role: str = "customer",
            locale: str | None = None) -> Account:
    """Create an account; raises ValidationFailed with field messages for bad input.

    An email already in use gets the same kind of field message as any other problem, not a
    crash; the portal words it so it does not confirm the address to a stranger (see web.auth).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    email = normalise_email(email)
    errors = {}
    if problem := email_problem(email):
        errors["email"] = [problem]
    if problem := password_problem(password or "", email=email):
        errors["password"] = [problem]
    if not errors and find_by_email(db, email) is not None:
        errors["email"] = ["An account with this email cannot be created. If it is yours, log in."]
    if errors:
        raise ValidationFailed(errors)
    account = Account(password_hash=hash_password(password), role=role, locale=locale)
    login_emails.of_session(db).assign(account, email)
    try:
        with db.begin_nested():
            db.add(account)
    except IntegrityError:
        raise ValidationFailed({"email": ["An account with this email cannot be created. If it is yours, log in."]}) from None
    return account


def authenticate(db: Session, email: str, password: str) -> Account:
    """The account for these credentials, or AccountError with one message for every failure."""
    account = find_by_email(db, email)
    ok = verify_password(account.password_hash if account else None, password or "")
    if not ok or account is None or not account.is_active:
        raise AccountError(LOGIN_FAILED)
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


def change_password(db: Session, account: Account, current: str, new: str) -> None:
    if not verify_password(account.password_hash, current or ""):
        raise ValidationFailed({"current_password": ["Your current password is not right."]})
    if problem := password_problem(new or "", email=account.email):
        raise ValidationFailed({"new_password": [problem]})
    account.password_hash = hash_password(new)
    account.password_changed_at = utcnow()
    db.flush()


def create_officer(db: Session, email: str, password: str) -> Account:
    return sign_up(db, email, password, role="officer")


def count_by_role(db: Session) -> dict[str, int]:
    return dict(db.execute(select(Account.role, func.count()).group_by(Account.role)).all())


def delete_account(db: Session, account_id: int) -> None:
    """Remove the account row and its sessions (vault rows go first via vault.records.erase_vault)."""
    db.execute(delete(LoginSession).where(LoginSession.account_id == account_id))
    db.execute(delete(Account).where(Account.id == account_id))
    db.flush()
