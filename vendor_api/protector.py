"""The resource server's side of a bearer token: one look-up, the liveness rules, RFC 6750 errors.

This is the hot path of ARCHITECTURE.md: the token digest is looked up in one SQLAlchemy Core
query that also brings the token's grant, app and customer (no ORM objects, no second trip),
and the grant's live state is judged on every call — there is no cache that a revoke could
outlive (SECURITY.md 15). The rate limiter's key function runs the same look-up first and
leaves the result on ``flask.g``, so limiting per client costs no extra query.

Tokens are read from the ``Authorization`` header only; an ``access_token`` query or form
parameter is ignored (SECURITY.md 14).

A token bound to a DPoP key (RFC 9449, SECURITY.md 13) must come as ``Authorization: DPoP
<token>`` with a ``DPoP`` proof for this very request, signed by that key; as ``Bearer`` it is
refused. The binding comes with the same look-up row, so plain bearer tokens cost nothing more.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from authlib.integrations.flask_oauth2 import ResourceProtector as _ResourceProtector
from authlib.integrations.flask_oauth2 import current_token, token_authenticated
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import MissingAuthorizationError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError, InvalidTokenError
from flask import g, request
from sqlalchemy import bindparam, select, true
from sqlalchemy.dialects.postgresql import array_agg
from werkzeug.exceptions import abort

from consent.models import Grant, VendorApp
from vault import clock
from vault.db import retry_if_lost_at_start
from vault.driver import DriverStatement
from vault.models import Account, DataKey, VaultRecord

from . import dpop
from .context import base_url, current_view, get_db
from .credentials import ACCESS_PREFIX, digest
from .models import Token
from .problems import problem
from .tokens import grant_covers

REALM = "vrm-vault"
CUSTOMER = "customer"  # pseudo-scope: the token must carry a customer's grant


@dataclass(frozen=True)
class Caller:
    """What one access token stands for at this instant (read once per request)."""

    token_id: int
    client_id: str
    app_id: int
    app_active: bool
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    grant_id: int | None
    account_id: int | None
    account_public_id: str | None
    # the grant's state, shaped like consent.policy.GrantState
    status: str | None
    grant_expires_at: datetime | None
    granted_at: datetime | None
    grant_scopes: tuple[str, ...]
    grant_fields: tuple[str, ...] | None
    subject: str | None
    grant_public_id: str | None
    purpose: str | None
    purpose_category: str | None
    last_access_at: datetime | None
    dpop_jkt: str | None = None
    #: The customer's sealed vault rows (field, version, ciphertext, kek_id, wrapped data key),
    #: fetched with the look-up for views marked :func:`reads_vault`; None when not fetched.
    #: Still ciphertext: nothing is opened before the policy has decided.
    sealed: tuple | None = field(default=None, repr=False)  # kept out of any repr: bulky, and no one's business

    def get_scope(self) -> str:
        return " ".join(self.scopes)

    def is_alive(self, now: datetime) -> bool:
        if self.revoked_at is not None or clock.as_utc(self.expires_at) <= now or not self.app_active:
            return False
        return self.grant_id is None or grant_covers(self.grant_state, self.issued_at, now)

    @property
    def grant_state(self) -> "GrantState":
        return GrantState(self.status, self.grant_expires_at, list(self.grant_scopes),
                          None if self.grant_fields is None else list(self.grant_fields), self.granted_at)


@dataclass(frozen=True)
class GrantState:
    status: str | None
    expires_at: datetime | None
    scopes: list[str]
    fields: list[str] | None
    granted_at: datetime | None


_T, _G, _A, _C = Token.__table__, Grant.__table__, VendorApp.__table__, Account.__table__
_LOOKUP = (
    select(_T.c.id, _A.c.client_id, _T.c.app_id, _A.c.is_active, _T.c.scope, _T.c.issued_at, _T.c.expires_at,
           _T.c.revoked_at, _T.c.grant_id, _T.c.account_id, _C.c.public_id, _G.c.status, _G.c.expires_at,
           _G.c.granted_at, _G.c.scopes_json, _G.c.fields_json, _G.c.subject, _G.c.public_id, _G.c.purpose,
           _G.c.purpose_category, _G.c.last_access_at, _T.c.dpop_jkt)
    .select_from(_T.join(_A, _A.c.id == _T.c.app_id).outerjoin(_G, _G.c.id == _T.c.grant_id)
                 .outerjoin(_C, _C.c.id == _T.c.account_id))
)


_BY_HASH = DriverStatement(_LOOKUP.where(_T.c.access_token_hash == bindparam("token_hash")))
_R, _K = VaultRecord.__table__, DataKey.__table__
_VAULT = (select(array_agg(_R.c.field).label("fields"), array_agg(_R.c.version).label("versions"),
                 array_agg(_R.c.ciphertext).label("ciphertexts"))
          .where(_R.c.account_id == _T.c.account_id).lateral("vault"))
#: PostgreSQL: the same look-up plus the customer's sealed rows (as arrays, so still one row) and
#: wrapped data key: token, grant and records in one round trip. A second statement, even
#: pipelined, cost ~70 µs more client CPU and a round trip (bench/RESULTS.md).
_BY_HASH_WITH_VAULT = DriverStatement(
    _LOOKUP.add_columns(_VAULT.c.fields, _VAULT.c.versions, _VAULT.c.ciphertexts, _K.c.kek_id, _K.c.wrapped)
    .outerjoin(_VAULT, true()).outerjoin(_K, _K.c.account_id == _T.c.account_id)
    .where(_T.c.access_token_hash == bindparam("token_hash")))
_LOOKED_UP = len(_LOOKUP.selected_columns)


def reads_vault(view):
    """Mark a view that opens the customer's vault: on PostgreSQL the token look-up before it
    also brings the customer's sealed rows, in the same round trip (the hot path's one trip for
    token, grant and records, bench/RESULTS.md). The mark is carried outward by every
    ``functools.wraps``."""
    view.vv_reads_vault = True
    return view


def lookup(db, token_string: str, *, with_vault: bool = False) -> Caller | None:
    """The caller behind an access token string, or None for anything we never issued."""
    if not token_string.startswith(ACCESS_PREFIX):
        return None
    # Built once, executed on the session's DBAPI connection: no statement to build, no execution
    # context, no ORM session layer (bench/RESULTS.md).
    params = {"token_hash": digest(token_string)}
    with_sealed = with_vault and db.get_bind().dialect.name == "postgresql"  # SQLite has no round trip to save
    statement = _BY_HASH_WITH_VAULT if with_sealed else _BY_HASH
    # Usually a request's first statement: a connection found dead here is replaced, not a 503.
    row = retry_if_lost_at_start(db, lambda: statement.first(db.connection(), params))
    sealed = None
    if with_sealed and row is not None:
        row, (fields, versions, ciphertexts, kek_id, wrapped) = row[:_LOOKED_UP], row[_LOOKED_UP:]
        sealed = tuple((name, version, ciphertext, kek_id, wrapped)
                       for name, version, ciphertext in zip(fields or (), versions or (), ciphertexts or ()))
    if row is None:
        return None
    (token_id, client_id, app_id, active, scope, issued, expires, revoked, grant_id, account_id, public_id,
     status, grant_expires, granted_at, scopes_json, fields_json, subject, grant_public_id, purpose,
     category, last_access, jkt) = row
    return Caller(token_id, client_id, app_id, bool(active), tuple(s for s in scope.split(" ") if s),
                  issued, expires, revoked, grant_id, account_id, public_id, status, grant_expires, granted_at,
                  tuple(json.loads(scopes_json)) if scopes_json else (),
                  None if fields_json is None else tuple(json.loads(fields_json)),
                  subject, grant_public_id, purpose, category, last_access, jkt, sealed)


def presented_token() -> tuple[str, str] | None:
    """(scheme, token) of ``Authorization: Bearer <token>`` or ``DPoP <token>``; nothing else is
    ever looked at."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not value.strip():
        return None
    return scheme.lower(), value.strip()


def current_caller() -> Caller | None:
    """Look the access token up once per request (the rate limiter asks first)."""
    presented = presented_token()
    token_string = presented[1] if presented else None
    if token_string is None:
        return None
    cached = g.get("vv_caller")  # (token, caller) for this request only, never stored
    if cached is not None and cached[0] == token_string:
        return cached[1]
    caller = lookup(get_db(), token_string, with_vault=getattr(current_view(), "vv_reads_vault", False))
    g.vv_caller = (token_string, caller)
    return caller


def rate_limit_key() -> str:
    """Per client for known tokens; per address for anything else (so guessing is limited too)."""
    caller = current_caller()
    if caller is not None:
        return "api-client:" + caller.client_id
    return "api-addr:" + (request.remote_addr or "unknown")


class DPoPError(OAuth2Error):
    """401 with a ``DPoP`` challenge: ``error`` is ``invalid_token``, ``invalid_dpop_proof`` or
    ``use_dpop_nonce``."""

    def __init__(self, error: str, description: str):
        super().__init__(description, error=error, status_code=401)


class VaultBearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Caller | None:
        return current_caller()

    def check_binding(self, caller: Caller) -> None:
        if caller.dpop_jkt is not None:
            raise DPoPError("invalid_token", "This token is bound to a DPoP key: send it as "
                            "'Authorization: DPoP <token>' with a DPoP proof signed by that key.")

    def validate_token(self, caller: Caller | None, scopes, request):
        if caller is None or not caller.is_alive(clock.utcnow()):
            raise InvalidTokenError(realm=self.realm)
        self.check_binding(caller)
        if scopes and CUSTOMER in scopes:
            if caller.grant_id is None:
                raise InsufficientScopeError("This endpoint needs a token a customer authorized.")
            return
        if self.scope_insufficient(caller.get_scope(), scopes):
            raise InsufficientScopeError()


class VaultDPoPValidator(VaultBearerValidator):
    """``Authorization: DPoP <token>``: a bound token plus a proof for this request (RFC 9449 §7)."""

    TOKEN_TYPE = "dpop"

    def check_binding(self, caller: Caller) -> None:
        if caller.dpop_jkt is None:
            raise DPoPError("invalid_token", "This token is not bound to a DPoP key: send it as Bearer.")
        try:
            dpop.verify_request(base_url() + request.path, access_token=presented_token()[1], jkt=caller.dpop_jkt)
        except dpop.InvalidProof as exc:  # invalid_dpop_proof, or use_dpop_nonce (RFC 9449 §9)
            raise DPoPError(exc.error, str(exc)) from exc

    def validate_token(self, caller: Caller | None, scopes, request):
        if caller is None or not caller.is_alive(clock.utcnow()):
            raise DPoPError("invalid_token", "The access token is unknown, expired or revoked, "
                            "or its consent has ended.")
        super().validate_token(caller, scopes, request)


def _dpop_challenge(error: str) -> str:
    return f'DPoP realm="{REALM}", algs="{" ".join(dpop.ALGORITHMS)}", error="{error}"'


class _HeadersOnly:
    """What our validators read of a request: its headers (the DPoP check reads Flask's request)."""

    __slots__ = ("headers",)

    def __init__(self, headers):
        self.headers = headers


class ResourceProtector(_ResourceProtector):
    """Authlib's protector, answering in problem+json with RFC 6750 / RFC 9449 ``WWW-Authenticate``."""

    def acquire_token(self, scopes=None, **kwargs):
        """Authlib's flow (parse the header, pick the validator, authenticate, validate, signal),
        minus wrapping the whole request as an OAuth2 JSON request (URL rebuilt, body parsed)
        for validators that read only the headers: ~1/20 of an API call (bench/RESULTS.md)."""
        token = self.validate_request(scopes=[scopes] if isinstance(scopes, str) else scopes,
                                      request=_HeadersOnly(request.headers), **kwargs)
        token_authenticated.send(self, token=token)
        g.authlib_server_oauth2_token = token
        return token

    def raise_error_response(self, error: OAuth2Error):
        if isinstance(error, DPoPError):
            abort(problem(401, "Unauthorized", error.description,
                          headers={"WWW-Authenticate": _dpop_challenge(error.error)}))
        if isinstance(error, InsufficientScopeError):
            header = f'Bearer realm="{REALM}", error="insufficient_scope"'
            if (presented_token() or ("",))[0] == "dpop":
                header = _dpop_challenge("insufficient_scope")
            abort(problem(403, "Insufficient scope", error.description or "This token cannot be used here.",
                          headers={"WWW-Authenticate": header}))
        if isinstance(error, InvalidTokenError):
            header = f'Bearer realm="{REALM}", error="invalid_token"'
            detail = "The access token is unknown, expired or revoked, or its consent has ended."
        else:
            # No credentials at all (or another scheme): RFC 6750 §3.1 says no error code then.
            header = f'Bearer realm="{REALM}"'
            detail = "Send an access token in the Authorization header: 'Authorization: Bearer <token>'."
        abort(problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": header}))


require_oauth = ResourceProtector()
require_oauth.register_token_validator(VaultBearerValidator(realm=REALM))
require_oauth.register_token_validator(VaultDPoPValidator(realm=REALM))


def authenticate_first() -> None:
    """``before_request`` of every API blueprint: no live token, no further look at the request.

    flask-smorest validates bodies and query strings before the view's own ``require_oauth``
    runs, so without this an anonymous caller would learn our validation rules (422) before
    being told to authenticate (401). The lookup is cached per request, so the view's own check
    (scopes, DPoP proof) costs nothing more.
    """
    presented = presented_token()
    if presented is None:
        require_oauth.raise_error_response(MissingAuthorizationError(None, REALM))
    found = current_caller()
    if found is None or not found.is_alive(clock.utcnow()):
        if presented[0] == "dpop":
            require_oauth.raise_error_response(DPoPError("invalid_token", "The access token is unknown, expired "
                                                         "or revoked, or its consent has ended."))
        require_oauth.raise_error_response(InvalidTokenError(realm=REALM))


def caller() -> Caller:
    """The authenticated caller of this request (inside a ``require_oauth`` view)."""
    return current_token._get_current_object()
