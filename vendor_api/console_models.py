"""Tables of the vendor console: invitations to an organisation, and initial access tokens.

Both hold a bearer secret that grants something (joining an organisation; registering an OAuth
client, RFC 7591 §3), so both are kept like every other credential here: 256 random bits with a
readable prefix, stored only as the SHA-256 digest (:mod:`vendor_api.credentials`), expiring,
and good for a bounded number of uses.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.models import VendorOrg  # noqa: F401 - the foreign keys below name its table
from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime
from vault.login_emails import SealedEmail

#: What a member may do in the console: owners also invite and remove members.
ORG_ROLES = ("owner", "member")


class VendorInvite(SealedEmail, Base):
    """An owner's invitation for one email address to join the organisation in one role."""

    __tablename__ = "vendor_invites"
    EMAIL_REF = ("invite|", "token_hash")
    __table_args__ = (Index("ix_vendor_invites_org", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("vendor_orgs.id", ondelete="CASCADE"))
    #: The invited address, as a keyed hash and sealed (vault.login_emails), like accounts'.
    email_lookup: Mapped[str] = mapped_column(String(64))
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    role: Mapped[str] = mapped_column(String(16), default="member")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def is_open(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and as_utc(self.expires_at) > now


class InitialAccessToken(Base):
    """Authorises dynamic client registration (RFC 7591 §3) of apps for one organisation.

    ``uses`` is raised by one conditional UPDATE per registration (see
    :func:`vendor_api.initial_tokens.consume`), so concurrent registrations can never spend a
    token more often than ``max_uses``.
    """

    __tablename__ = "oauth_initial_access_tokens"
    __table_args__ = (Index("ix_oauth_initial_access_tokens_org", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("vendor_orgs.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(80))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def state(self, now: datetime) -> str:
        """``usable``, ``used`` (no uses left), ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.uses >= self.max_uses:
            return "used"
        if as_utc(self.expires_at) <= now:
            return "expired"
        return "usable"
