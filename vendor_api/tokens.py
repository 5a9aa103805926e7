"""Issue, find and revoke tokens; the rules that tie every token to its grant.

Services only: they flush, never commit, and take the clock as an argument. The OAuth
endpoints (:mod:`vendor_api.oauth`), the API (:mod:`vendor_api.protector`) and the demo all
come through here, so there is one definition of "this token is alive".

A customer token is alive only while all of these hold, checked on every use (no cache):
the token is neither revoked nor expired, its grant is live (``consent.policy.is_live``), and
the token was issued no earlier than the grant's ``granted_at``. The last rule matters because
consent re-uses the grant row when a customer approves again after a revoke: tokens from the
earlier consent must stay dead, not come back to life.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from consent import ledger
from consent.models import Grant
from consent.policy import is_live
from vault.clock import as_utc, utcnow

from .credentials import ACCESS_PREFIX, REFRESH_PREFIX, digest, new_credential
from .models import Token

ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=30)
CODE_TTL = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedToken:
    """The plaintext strings, handed to the client once and never stored."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str
    row: Token

    def as_response(self) -> dict:
        body = {"token_type": "DPoP" if self.row.dpop_jkt else "Bearer", "access_token": self.access_token,
                "expires_in": self.expires_in, "scope": self.scope}
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


def _cap(value: datetime, limit: datetime | None) -> datetime:
    return value if limit is None else min(value, as_utc(limit))


def issue(db: Session, *, app_id: int, scope: str, grant_type: str, grant: Grant | None = None,
          with_refresh: bool = False, family_id: str | None = None, code_id: int | None = None,
          rotated_from_id: int | None = None, dpop_jkt: str | None = None,
          now: datetime | None = None) -> IssuedToken:
    """Create one token row. Customer tokens never outlive their grant's expiry.

    ``dpop_jkt`` binds the token to a DPoP key (RFC 9449): it then works only with proofs
    signed by that key, and is handed out as ``token_type`` "DPoP".
    """
    now = now or utcnow()
    access = new_credential(ACCESS_PREFIX)
    refresh = new_credential(REFRESH_PREFIX) if with_refresh and grant is not None else None
    limit = grant.expires_at if grant is not None else None
    expires_at = _cap(now + ACCESS_TTL, limit)
    row = Token(access_token_hash=digest(access), refresh_token_hash=digest(refresh) if refresh else None,
                app_id=app_id, grant_id=grant.id if grant else None,
                account_id=grant.account_id if grant else None, code_id=code_id,
                family_id=family_id or secrets.token_hex(16), rotated_from_id=rotated_from_id,
                grant_type=grant_type, scope=scope, issued_at=now, expires_at=expires_at, dpop_jkt=dpop_jkt,
                refresh_expires_at=_cap(now + REFRESH_TTL, limit) if refresh else None)
    db.add(row)
    db.flush()
    return IssuedToken(access, refresh, max(0, int((expires_at - now).total_seconds())), scope, row)


def find(db: Session, value: str | None, hint: str | None = None) -> Token | None:
    """The token whose access or refresh string is ``value``.

    The prefix says which kind it is; ``token_type_hint`` (RFC 7009/7662) is only a hint, so a
    wrong one changes nothing.
    """
    if not value or not isinstance(value, str):
        return None
    if value.startswith(REFRESH_PREFIX):
        row = db.scalar(select(Token).where(Token.refresh_token_hash == digest(value)))
        kind = "refresh_token"
    elif value.startswith(ACCESS_PREFIX):
        row = db.scalar(select(Token).where(Token.access_token_hash == digest(value)))
        kind = "access_token"
    else:
        return None
    if row is not None:
        row.presented_as = kind
    return row


def grant_covers(grant, issued_at: datetime, now: datetime) -> bool:
    """The grant still covers a token (or code) issued at ``issued_at``: see the module docstring.

    ``grant`` is a :class:`Grant` or anything with the same attributes (the hot path passes a row).
    """
    return (grant is not None and is_live(grant, now)
            and as_utc(issued_at) >= as_utc(grant.granted_at))


def claim_rotation(db: Session, token: Token, now: datetime) -> bool:
    """Mark the refresh token spent, atomically: only one of two racing refreshes wins."""
    result = db.execute(update(Token).where(Token.id == token.id, Token.rotated_at.is_(None),
                                            Token.revoked_at.is_(None)).values(rotated_at=now)
                        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        token.rotated_at = now
        return True
    return False


def claim_code(db: Session, code_id: int, now: datetime) -> bool:
    """Mark an authorization code used, atomically (the second redemption loses)."""
    from .models import AuthorizationCode
    result = db.execute(update(AuthorizationCode).where(AuthorizationCode.id == code_id,
                                                        AuthorizationCode.used_at.is_(None))
                        .values(used_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


def spend_codes_for_client(db: Session, client_pk: int, now: datetime) -> int:
    """Mark every unused authorization code of a client used (it is being retired)."""
    from .models import AuthorizationCode
    return db.execute(update(AuthorizationCode).where(AuthorizationCode.client_pk == client_pk,
                                                      AuthorizationCode.used_at.is_(None))
                      .values(used_at=now).execution_options(synchronize_session=False)).rowcount


def _revoke(db: Session, condition, now: datetime) -> int:
    result = db.execute(update(Token).where(condition, Token.revoked_at.is_(None)).values(revoked_at=now)
                        .execution_options(synchronize_session="fetch"))
    return result.rowcount


def revoke_one(db: Session, token: Token, *, now: datetime | None = None) -> int:
    return _revoke(db, Token.id == token.id, now or utcnow())


def revoke_family(db: Session, family_id: str, *, now: datetime | None = None) -> int:
    """Every token descended from the same authorization (RFC 7009 §2.1 for refresh tokens)."""
    return _revoke(db, Token.family_id == family_id, now or utcnow())


def revoke_for_grant(db: Session, grant_id: int, *, now: datetime | None = None) -> int:
    return _revoke(db, Token.grant_id == grant_id, now or utcnow())


def revoke_for_app(db: Session, app_id: int, *, now: datetime | None = None) -> int:
    return _revoke(db, Token.app_id == app_id, now or utcnow())


def revoke_for_code(db: Session, code_id: int, *, now: datetime | None = None) -> int:
    """Everything the first redemption of a code produced, including later rotations."""
    families = select(Token.family_id).where(Token.code_id == code_id).scalar_subquery()
    return _revoke(db, or_(Token.code_id == code_id, Token.family_id.in_(families)), now or utcnow())


def record_reuse(db: Session, *, chain: str, client_id: str, kind: str, revoked: int,
                 grant_public_id: str | None, now: datetime) -> None:
    """A ledger entry for a replayed refresh token or code: the customer sees it was blocked."""
    ledger.append(db, type="token_reuse", actor="system", actor_role="system", chain=chain,
                  vendor_app=client_id, now=now,
                  details={"credential": kind, "tokens_revoked": revoked, "grant": grant_public_id})
