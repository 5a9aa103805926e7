"""Who may receive data (vendor organisations and their apps) and what each was granted.

OAuth details of an app (secret hash, redirect URIs) belong to vendor_api; consent only needs
to know who the recipient is and what it said it wants the data for.
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.clock import utcnow
from vault.db import Base, UTCDateTime

GRANT_STATUSES = ("active", "revoked", "expired")
#: The expiry choices a customer has: days, or None for "until I revoke it".
TERMS = (30, 90, 365, None)
DEFAULT_TERM_DAYS = 90


def _dump_list(values) -> str:
    return json.dumps(sorted(set(values)))


class VendorOrg(Base):
    __tablename__ = "vendor_orgs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    website: Mapped[str] = mapped_column(String(300))
    contact_email: Mapped[str] = mapped_column(String(254))
    jurisdiction: Mapped[str] = mapped_column(String(8), default="EU")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VendorMember(Base):
    """An account that may manage an organisation's apps in the vendor console."""

    __tablename__ = "vendor_members"
    __table_args__ = (UniqueConstraint("org_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("vendor_orgs.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="admin")


class VendorApp(Base):
    """A vendor's application: the party a customer grants consent to."""

    __tablename__ = "vendor_apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True,
                                           default=lambda: "vv_app_" + secrets.token_urlsafe(12))
    org_id: Mapped[int] = mapped_column(ForeignKey("vendor_orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    website: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(Text)
    purpose_category: Mapped[str] = mapped_column(String(64), default="dpv:ServiceProvision")
    lawful_basis: Mapped[str] = mapped_column(String(64), default="dpv:Consent")
    requested_scopes_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_active: Mapped[bool] = mapped_column(default=True)
    #: When its vendor retired it (console or RFC 7592 DELETE); it then answers no OAuth request
    #: and its grants are ended by the worker (:func:`consent.grants.end_for_retired_apps`).
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    org: Mapped[VendorOrg] = relationship(lazy="joined")

    @property
    def requested_scopes(self) -> list[str]:
        return json.loads(self.requested_scopes_json)

    @requested_scopes.setter
    def requested_scopes(self, values) -> None:
        self.requested_scopes_json = _dump_list(values)


class Grant(Base):
    """One customer's consent to one app: scopes, optional field narrowing, purpose, expiry.

    There is at most one grant per (customer, app); its history is in the ledger and in the
    receipts. ``fields_json`` null means "every field of the granted scopes"; a list narrows to
    exactly those fields. The pairwise ``subject`` is the only id the app ever sees.
    """

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("account_id", "app_id"), UniqueConstraint("app_id", "subject"),
                      Index("ix_grants_app_status", "app_id", "status"),
                      Index("ix_grants_status_expires", "status", "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True,
                                           default=lambda: "g_" + secrets.token_urlsafe(12))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(64))
    scopes_json: Mapped[str] = mapped_column(Text)
    fields_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    purpose: Mapped[str] = mapped_column(Text)
    purpose_category: Mapped[str] = mapped_column(String(64))
    lawful_basis: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    term_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The customer's proffered terms as this app accepted them when consent was given (see
    #: consent.terms.agreement); null when the app does not accept the customer's terms.
    terms_json: Mapped[str | None] = mapped_column(Text, nullable=True)

    app: Mapped[VendorApp] = relationship(lazy="joined")

    @property
    def terms_agreement(self) -> dict | None:
        return None if self.terms_json is None else json.loads(self.terms_json)

    @terms_agreement.setter
    def terms_agreement(self, value: dict | None) -> None:
        self.terms_json = None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)

    @property
    def scopes(self) -> list[str]:
        return json.loads(self.scopes_json)

    @scopes.setter
    def scopes(self, values) -> None:
        self.scopes_json = _dump_list(values)

    @property
    def fields(self) -> list[str] | None:
        return None if self.fields_json is None else json.loads(self.fields_json)

    @fields.setter
    def fields(self, values) -> None:
        self.fields_json = None if values is None else _dump_list(values)


class ConsentReceipt(Base):
    """A signed receipt of one grant change, in both formats, kept for the customer to download."""

    __tablename__ = "consent_receipts"
    __table_args__ = (Index("ix_consent_receipts_grant", "grant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    facts_json: Mapped[str] = mapped_column(Text)
    kantara_jws: Mapped[str] = mapped_column(Text)
    dpv_jws: Mapped[str] = mapped_column(Text)
