"""Time-based one-time passwords (RFC 6238) as a second factor.

The shared secret is sealed with the account's own data key, like vault values; a code is
accepted once (the last accepted time step is remembered) and within one step of clock drift.
"""
from __future__ import annotations

from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from . import crypto
from .clock import utcnow
from .keys.service import KeyService
from .models import Account
from .records import data_key, ensure_data_key

FIELD = "account.totp_secret"
STEP = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str = "VRM Vault") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        step = _step(now) + drift
        if pyotp.utils.strings_equal(totp.at(step * STEP), code):
            return step
    return None


def code_matches(secret: str, code: str, now: datetime | None = None) -> bool:
    """For enrolment: does ``code`` fit a secret not yet stored?"""
    return _matching_step(secret, code, now or utcnow()) is not None


def enable(db: Session, keys: KeyService, account: Account, secret: str, code: str,
           now: datetime | None = None) -> bool:
    """Store ``secret`` if ``code`` proves the authenticator app has it."""
    now = now or utcnow()
    step = _matching_step(secret, code, now)
    if step is None:
        return False
    dek = ensure_data_key(db, keys, account)
    account.totp_secret = crypto.seal_field(dek, str(account.id), FIELD, secret.encode())
    account.totp_last_step = step
    db.flush()
    return True


def disable(db: Session, account: Account) -> None:
    account.totp_secret, account.totp_last_step = None, None
    db.flush()


def verify(db: Session, keys: KeyService, account: Account, code: str, now: datetime | None = None) -> bool:
    """Check a login code; each time step is accepted at most once (no replay)."""
    if account.totp_secret is None:
        return False
    secret = crypto.open_field(data_key(db, keys, account.id), str(account.id), FIELD,
                               account.totp_secret).decode()
    step = _matching_step(secret, code, now or utcnow())
    if step is None or (account.totp_last_step is not None and step <= account.totp_last_step):
        return False
    account.totp_last_step = step
    db.flush()
    return True
