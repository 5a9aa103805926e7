"""Tables of the vault core: accounts, their data keys, encrypted values and portal sessions."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .clock import utcnow
from .db import Base, UTCDateTime
from .login_emails import SealedEmail

ROLES = ("customer", "vendor", "officer")


def new_public_id() -> str:
    """A pseudonymous, unguessable id: what logs and officers see instead of our row id."""
    return "c_" + secrets.token_urlsafe(16)


class Account(SealedEmail, Base):
    """A person who logs in: a customer, a member of a vendor organisation, or a privacy officer.

    The login email is account metadata (needed to log in and to write to the person), stored as
    a keyed hash to find it by and sealed bytes to read it from (:mod:`vault.login_emails`); the
    customer's personal data lives encrypted in :class:`VaultRecord`.
    """

    __tablename__ = "accounts"
    EMAIL_REF = ("account|", "public_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_public_id)
    email_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="customer")
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: Sealed with the account's own data key (field "account.totp_secret"); null = no 2FA.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The last TOTP time step accepted, so one code cannot be replayed within its window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __init__(self, **kwargs):
        # The public id from the start, not at flush: the login address is sealed to it first.
        kwargs.setdefault("public_id", new_public_id())
        super().__init__(**kwargs)

    # flask-login asks these of the user object; keeping them here avoids a wrapper class.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The portal stores a session token, not this id: see vault.sessions.
        return str(self.id)


class DataKey(Base):
    """A customer's data key, wrapped by a key-encryption key that lives outside the database.

    Deleting this row is crypto-shredding: every ciphertext of the customer becomes noise.
    """

    __tablename__ = "data_keys"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SystemKey(Base):
    """An instance-wide key, wrapped by a key-encryption key like a customer's data key (and
    re-wrapped with them on rotation). Today one: the login-email key (vault.login_emails)."""

    __tablename__ = "system_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VaultRecord(Base):
    """One field of one customer's vault, sealed with the customer's data key."""

    __tablename__ = "vault_records"
    __table_args__ = (UniqueConstraint("account_id", "field"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginSession(Base):
    """A server-side portal session: logout and "sign out other sessions" delete rows here."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_account", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
