"""OAuth 2.0 storage: clients, authorization codes, tokens, and the consent screen's decisions.

Nothing secret is stored in the clear. Codes, access tokens, refresh tokens and client secrets
are ≥ 256-bit values from :mod:`secrets`; only their SHA-256 hex digests are kept (a slow hash
buys nothing against values that cannot be guessed, and a fast one keeps the hot path fast).
A database dump therefore yields no usable credential (SECURITY.md 10).

The ORM classes also implement the small interfaces Authlib asks of them (``ClientMixin``,
``AuthorizationCodeMixin``, ``TokenMixin``) by method name only: Authlib's own SQLAlchemy
mixins store tokens in plain text, so they are deliberately not used.
"""
from __future__ import annotations

import hmac
import json
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.models import VendorApp
from consent.scopes import SCOPES
from vault import clock
from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime

from .credentials import digest

#: Grant types a client may be allowed; implicit and password do not exist here (SECURITY.md 6).
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
#: How confidential clients authenticate; there are no public clients (yet).
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Vendor-level scopes, only for client-credentials tokens; they never reach customer data.
VENDOR_SCOPES = {"vendor:read": "Read the app's own registration and grant counts (no customer data)."}


class OAuthClient(Base):
    """The OAuth side of a :class:`consent.models.VendorApp` (one to one)."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris_json: Mapped[str] = mapped_column(Text, default="[]")
    grant_types_json: Mapped[str] = mapped_column(Text, default=json.dumps(list(GRANT_TYPES)))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Refuse token requests without a DPoP proof (RFC 9449): every token of this client is bound.
    require_dpop: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Digest of the RFC 7592 registration access token of a dynamically registered client (none
    #: for clients made in the console, which manages them).
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    app: Mapped[VendorApp] = relationship(lazy="joined")

    @property
    def redirect_uris(self) -> list[str]:
        return json.loads(self.redirect_uris_json)

    @redirect_uris.setter
    def redirect_uris(self, values) -> None:
        self.redirect_uris_json = json.dumps(list(dict.fromkeys(values)))

    @property
    def grant_types(self) -> list[str]:
        return json.loads(self.grant_types_json)

    @grant_types.setter
    def grant_types(self, values) -> None:
        unknown = set(values) - set(GRANT_TYPES)
        if unknown:
            raise ValueError(f"Unsupported grant types: {', '.join(sorted(unknown))}.")
        self.grant_types_json = json.dumps([g for g in GRANT_TYPES if g in set(values)])

    @property
    def client_id(self) -> str:
        return self.app.client_id

    # --- Authlib ClientMixin ----------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> None:
        # Always require redirect_uri in the request: exact matching needs something to match.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Requested scopes, all of which must be consent scopes this app registered.

        Missing scope means "everything the app registered". Anything else (unknown, or not
        registered, or a vendor-level scope) refuses the request instead of silently trimming it,
        so a vendor notices a misconfiguration at once.
        """
        registered = [s for s in self.app.requested_scopes if s in SCOPES]
        if not scope:
            return " ".join(registered) or None
        asked = list(dict.fromkeys(s for s in scope.split(" ") if s))
        if not asked or any(s not in registered for s in asked):
            return None
        return " ".join(asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison: no prefix, no added query, no normalisation (SECURITY.md 1).
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(digest(client_secret), self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return self.app.is_active and grant_type in self.grant_types


class AuthorizationCode(Base):
    """A one-time code: ≤ 60 s, bound to client, redirect URI, customer, grant and PKCE challenge."""

    __tablename__ = "oauth_authorization_codes"
    __table_args__ = (Index("ix_oauth_authorization_codes_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    #: Nullable only so that the token endpoint's downgrade check (no challenge -> refuse) is
    #: real code rather than an assumption; every code issued here has an S256 challenge.
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: RFC 9449 §10: the thumbprint of the DPoP key the code must be redeemed with, if the
    #: authorization request named one (``dpop_jkt``).
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # --- Authlib AuthorizationCodeMixin -----------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class Token(Base):
    """One issuance: an access token and (for customer tokens) its refresh token.

    ``family_id`` groups every token descended from one authorization code through refresh
    rotation; ``rotated_from_id`` links each to its parent. ``rotated_at`` marks a refresh
    token that was exchanged: presenting it again is a replay (SECURITY.md 9).
    ``grant_id``/``account_id`` are null for client-credentials tokens, which never carry
    customer data.
    """

    __tablename__ = "oauth_tokens"
    __table_args__ = (Index("ix_oauth_tokens_grant", "grant_id"),
                      Index("ix_oauth_tokens_family", "family_id"),
                      Index("ix_oauth_tokens_app", "app_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("oauth_authorization_codes.id", ondelete="SET NULL"), nullable=True, index=True)
    family_id: Mapped[str] = mapped_column(String(32))
    rotated_from_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_tokens.id", ondelete="SET NULL"),
                                                        nullable=True)
    grant_type: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: RFC 7638 SHA-256 thumbprint of the DPoP key the token is bound to (``cnf.jkt``, RFC 9449);
    #: null for a plain bearer token. A bound refresh token needs a proof with the same key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)

    #: Which of the two strings the caller presented ("access_token" / "refresh_token");
    #: set by look-ups, never stored.
    presented_as: str = "access_token"

    @property
    def scopes(self) -> list[str]:
        return [s for s in self.scope.split(" ") if s]

    # --- Authlib TokenMixin -----------------------------------------------------------------
    def check_client(self, client: OAuthClient) -> bool:
        return self.app_id == client.app_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((as_utc(self.expires_at) - as_utc(self.issued_at)).total_seconds()))

    def is_expired(self, now: datetime | None = None) -> bool:
        now = now or clock.utcnow()  # looked up at call time: tests move the clock
        if self.presented_as == "refresh_token":
            return self.refresh_expires_at is None or as_utc(self.refresh_expires_at) <= now
        return as_utc(self.expires_at) <= now

    def is_revoked(self) -> bool:
        if self.presented_as == "refresh_token":
            return self.revoked_at is not None or self.rotated_at is not None
        return self.revoked_at is not None


#: When a token row stops authorizing anything: its refresh token's expiry, else its access
#: token's (a refresh token never expires before its access token: both are capped by the grant,
#: and the refresh lifetime is the longer). The hourly purge finds dead rows through this index
#: instead of scanning every token (vendor_api.housekeeping).
USABLE_UNTIL = func.coalesce(Token.refresh_expires_at, Token.expires_at)
Index("ix_oauth_tokens_usable_until", USABLE_UNTIL)


class DPoPProofSeen(Base):
    """A DPoP proof already used (RFC 9449 §11.1): the digest of its key thumbprint and ``jti``.

    Kept in the database, not in memory, because several processes answer requests; a row is
    only needed while its proof's ``iat`` is inside the accepted window, and expired rows are
    deleted whenever another proof is recorded.
    """

    __tablename__ = "dpop_proofs_seen"
    __table_args__ = (Index("ix_dpop_proofs_seen_expires", "expires_at"),)

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizationDecision(Base):
    """What a customer decided on the consent screen, scope by scope.

    The grant's ledger entry says what was shared; this row also keeps what was asked and
    refused, so an officer report can count refusals per app without reading the ledger.
    """

    __tablename__ = "oauth_authorization_decisions"
    __table_args__ = (Index("ix_oauth_authorization_decisions_app", "app_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # "approved" or "denied"
    requested_json: Mapped[str] = mapped_column(Text)
    approved_json: Mapped[str] = mapped_column(Text)
    refused_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def refused(self) -> list[str]:
        return json.loads(self.refused_json)
