"""The OAuth 2.0 authorization server: all Authlib wiring in one module.

What Authlib gives us, and what is tightened here (SECURITY.md 1-12):

* authorization code + PKCE, S256 only, for every client (:class:`S256CodeChallenge`: Authlib's
  ``CodeChallenge`` defaults to ``plain`` and enforces only for public clients);
* codes are single-use (an atomic claim), live 60 s, and are bound to client, redirect URI,
  customer and grant; a second redemption fails *and* revokes what the first produced;
* refresh tokens rotate on every use; presenting a spent one revokes every token of the grant
  and writes a ``token_reuse`` ledger entry (Authlib does neither by default);
* client credentials only for the vendor-level scope ``vendor:read``: such tokens have no grant
  and so can never reach customer data;
* revocation (RFC 7009) and introspection (RFC 7662) that answer a client only about its own
  tokens; metadata (RFC 8414); ``iss`` on every authorization response (RFC 9207);
* DPoP (RFC 9449, which Authlib lacks): a token request with a ``DPoP`` proof gets a token bound
  to the proof's key (:func:`dpop_binding`); a bound refresh token needs a proof with that same
  key; a client registered with ``require_dpop`` gets no token without a proof.

Tokens are created by :mod:`vendor_api.tokens`, never by Authlib's generator (which would hand
back strings that we would then have to remember to hash).
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import Blueprint, Flask, Response, jsonify, request, url_for
from sqlalchemy import select

from consent.models import Grant
from consent.scopes import SCOPES
from vault import clock
from vault.db import retry_if_lost_at_start
from vault.models import Account

from . import clients, dpop, tokens
from .context import base_url, get_db, keep_on_error, request_has_body
from .credentials import CODE_PREFIX, digest, new_credential
from .documenting import oauth_error
from .models import AUTH_METHODS, GRANT_TYPES, VENDOR_SCOPES, AuthorizationCode, Token

log = logging.getLogger(__name__)

bp = Blueprint("oauth", __name__)


def issuer() -> str:
    """Our issuer identifier: the public base URL (configured, else this request's host)."""
    return base_url()


def scopes_supported() -> list[str]:
    return list(SCOPES) + list(VENDOR_SCOPES)


# --- PKCE -------------------------------------------------------------------------------------

class S256CodeChallenge(CodeChallenge):
    """PKCE as RFC 9700 §2.1.1 wants it: always required, S256 only, no downgrade."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        code = grant.request.authorization_code
        if not code.code_challenge:
            # Codes are never issued without a challenge; one without is refused with or without
            # a verifier (a verifier "proving" nothing is the downgrade of RFC 9700 §4.8).
            if grant.request.form.get("code_verifier"):
                raise InvalidRequestError("A code_verifier was sent but the request had no code_challenge.")
            raise InvalidGrantError("This code was issued without PKCE.")
        super().validate_code_verifier(grant, result)


# --- DPoP -------------------------------------------------------------------------------------

class InvalidDPoPProofError(OAuth2Error):
    error = "invalid_dpop_proof"


class DPoPCodeBinding:
    """RFC 9449 §10: an authorization request may name, as ``dpop_jkt``, the DPoP key its code
    must be redeemed with. The code keeps it (``AuthorizationCode.dpop_jkt``), and the token
    request then needs a proof signed with that key: a code stolen on its way back through the
    browser is useless without the client's private key. Registered like Authlib's PKCE."""

    def __call__(self, grant):
        grant.register_hook("after_validate_authorization_request_payload", self.validate_dpop_jkt)

    def validate_dpop_jkt(self, grant, redirect_uri):
        value = grant.request.payload.data.get("dpop_jkt")
        if value is not None and not dpop.is_thumbprint(value):
            raise InvalidRequestError("dpop_jkt must be the base64url SHA-256 thumbprint of the DPoP key (RFC 7638).")


def token_endpoint_url() -> str:
    """The token endpoint's public URL (the ``htu`` a proof must name; also in the metadata)."""
    return issuer() + url_for("oauth.token")


def dpop_binding(client, *, bound_to: str | None = None, what: str = "refresh token") -> str | None:
    """The key thumbprint a new token is bound to, or None for a plain bearer token.

    ``bound_to`` is the binding of the refresh token or code (``what``) being exchanged: the
    proof must then be signed with that same key, so a stolen bound one is useless without it.
    Called after client authentication, so only a known client ever writes a ``jti``.
    """
    if "DPoP" not in request.headers:
        if bound_to:
            raise InvalidDPoPProofError(f"This {what} is bound to a DPoP key: send a proof signed with it.")
        if client.require_dpop:
            raise InvalidDPoPProofError("This client must send a DPoP proof with every token request.")
        return None
    try:
        return dpop.verify_request(token_endpoint_url(), jkt=bound_to).jkt
    except dpop.InvalidProof as exc:  # invalid_dpop_proof, or use_dpop_nonce (RFC 9449 §8)
        raise InvalidDPoPProofError(str(exc), error=exc.error) from exc


# --- grants -----------------------------------------------------------------------------------

def _reuse_detected(db, *, chain_account_id: int | None, client, grant_id: int | None, kind: str,
                    revoked: int, now) -> None:
    """Keep the revocation and the ledger entry although the response is an error."""
    account = db.get(Account, chain_account_id) if chain_account_id else None
    grant = db.get(Grant, grant_id) if grant_id else None
    if account is not None:
        tokens.record_reuse(db, chain=account.public_id, client_id=client.client_id, kind=kind,
                            revoked=revoked, grant_public_id=grant.public_id if grant else None, now=now)
    log.warning("Replay of a spent %s for client %s: %d token(s) revoked.", kind, client.client_id, revoked)
    keep_on_error()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def generate_authorization_code(self) -> str:
        return new_credential(CODE_PREFIX)

    def save_authorization_code(self, code: str, request) -> None:
        """``request.vault_approval`` is set by the consent screen: (grant id, approved scope)."""
        grant_id, scope = request.vault_approval
        now = clock.utcnow()
        db = get_db()
        db.add(AuthorizationCode(
            code_hash=digest(code), client_pk=request.client.id, account_id=request.user.id,
            grant_id=grant_id, redirect_uri=request.payload.redirect_uri, scope=scope,
            code_challenge=request.payload.data["code_challenge"], code_challenge_method="S256",
            dpop_jkt=request.payload.data.get("dpop_jkt"),  # checked by DPoPCodeBinding
            created_at=now, expires_at=now + tokens.CODE_TTL))
        db.flush()

    def query_authorization_code(self, code: str, client):
        db, now = get_db(), clock.utcnow()
        row = db.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code or "")))
        if row is None or row.client_pk != client.id:
            return None
        if row.used_at is not None or not tokens.claim_code(db, row.id, now):
            # RFC 6749 §4.1.2: deny, and revoke what the first redemption produced.
            revoked = tokens.revoke_for_code(db, row.id, now=now)
            _reuse_detected(db, chain_account_id=row.account_id, client=client, grant_id=row.grant_id,
                            kind="authorization_code", revoked=revoked, now=now)
            raise InvalidGrantError("This code was already used; the tokens it produced are revoked.")
        if clock.as_utc(row.expires_at) <= now:
            return None
        return row

    def delete_authorization_code(self, authorization_code) -> None:
        # Already marked used by the atomic claim; the row stays for reuse detection.
        pass

    def authenticate_user(self, authorization_code):
        db, now = get_db(), clock.utcnow()
        grant = db.get(Grant, authorization_code.grant_id)
        if grant is None or grant.account_id != authorization_code.account_id \
                or not tokens.grant_covers(grant, authorization_code.created_at, now):
            raise InvalidGrantError("The customer's consent is no longer active.")
        self.request.vault_grant = grant
        return db.get(Account, authorization_code.account_id)

    def create_token_response(self):
        client, code = self.request.client, self.request.authorization_code
        jkt = dpop_binding(client, bound_to=code.dpop_jkt, what="code")
        user = self.authenticate_user(code)
        self.request.user = user
        grant = self.request.vault_grant
        scope = " ".join(s for s in code.scope.split(" ") if s in set(grant.scopes))
        if not scope:
            raise InvalidGrantError("Nothing of what was approved is still shared.")
        issued = tokens.issue(get_db(), app_id=client.app_id, scope=scope, grant_type="authorization_code",
                              grant=grant, with_refresh=client.check_grant_type("refresh_token"),
                              code_id=code.id, dpop_jkt=jkt, now=clock.utcnow())
        return 200, issued.as_response(), self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def _validate_token_scope(self, token):
        # Authlib's client re-sends the scope it first asked for; when the customer unticked some,
        # that is wider than the token's. Narrowing to the intersection (below) is never wider
        # than what was granted, and spares every such client an invalid_scope failure.
        pass

    def _replay(self, db, token: Token, now) -> None:
        revoked = tokens.revoke_for_grant(db, token.grant_id, now=now) if token.grant_id else \
            tokens.revoke_family(db, token.family_id, now=now)
        _reuse_detected(db, chain_account_id=token.account_id, client=self.request.client,
                        grant_id=token.grant_id, kind="refresh_token", revoked=revoked, now=now)
        raise InvalidGrantError("This refresh token was already used; every token of this consent is revoked.")

    def authenticate_refresh_token(self, refresh_token: str):
        db, now = get_db(), clock.utcnow()
        token = tokens.find(db, refresh_token, "refresh_token")
        if token is None or token.presented_as != "refresh_token" or not token.check_client(self.request.client):
            return None
        if token.rotated_at is not None:
            self._replay(db, token, now)
        if token.is_revoked() or token.is_expired(now):
            return None
        return token

    def authenticate_user(self, refresh_token: Token):
        db, now = get_db(), clock.utcnow()
        grant = db.get(Grant, refresh_token.grant_id) if refresh_token.grant_id else None
        if not tokens.grant_covers(grant, refresh_token.issued_at, now):
            raise InvalidGrantError("The customer's consent is no longer active.")
        self.request.vault_grant = grant
        return db.get(Account, refresh_token.account_id)

    def create_token_response(self):
        db, now = get_db(), clock.utcnow()
        old: Token = self.request.refresh_token
        jkt = dpop_binding(self.request.client, bound_to=old.dpop_jkt)
        self.request.user = self.authenticate_user(old)
        grant = self.request.vault_grant
        if not tokens.claim_rotation(db, old, now):
            self._replay(db, old, now)  # lost a race against another use of the same token
        asked = (self.request.payload.scope or old.scope).split(" ")
        allowed = set(old.scopes) & set(grant.scopes)
        scope = " ".join(s for s in dict.fromkeys(asked) if s in allowed)
        if not scope:
            raise InvalidScopeError("Nothing of the requested scope is still shared.")
        issued = tokens.issue(db, app_id=old.app_id, scope=scope, grant_type="refresh_token", grant=grant,
                              with_refresh=True, family_id=old.family_id, rotated_from_id=old.id,
                              dpop_jkt=jkt, now=now)
        return 200, issued.as_response(), self.TOKEN_RESPONSE_HEADER


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Vendor-level access only: the token has no grant, so no customer's data is reachable."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_requested_scope(self):
        asked = set((self.request.payload.scope or "vendor:read").split())
        if not asked or asked - set(VENDOR_SCOPES):
            raise InvalidScopeError("Client credentials may only ask for vendor:read.")

    def create_token_response(self):
        jkt = dpop_binding(self.request.client)
        issued = tokens.issue(get_db(), app_id=self.request.client.app_id, scope="vendor:read",
                              grant_type="client_credentials", dpop_jkt=jkt, now=clock.utcnow())
        return 200, issued.as_response(), self.TOKEN_RESPONSE_HEADER


# --- revocation and introspection ------------------------------------------------------------

class _HintIsOnlyAHint:
    """RFC 7009 §2.1 (and RFC 7662 by reference): "An invalid token type hint value is ignored by
    the authorization server". Authlib refused one as ``unsupported_token_type`` with a 401, as
    if the client had failed to authenticate. ``tokens.find`` reads the kind from the token's own
    prefix, so no hint, valid or not, changes what is found."""

    def check_params(self, request, client):
        if "token" not in request.form:
            raise InvalidRequestError()


class RevocationEndpoint(_HintIsOnlyAHint, _RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string, token_type_hint):
        return tokens.find(get_db(), token_string, token_type_hint)

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # Another client's token is treated like an unknown one (200, nothing done): answering
        # differently would tell a client that a token it holds belongs to someone else.
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: Token, request) -> None:
        """A refresh token takes its whole family (every access token it led to, RFC 7009 §2.1);
        an access token takes its own row, i.e. also the refresh token issued with it."""
        now = clock.utcnow()
        if token.presented_as == "refresh_token":
            tokens.revoke_family(get_db(), token.family_id, now=now)
        else:
            tokens.revoke_one(get_db(), token, now=now)


class IntrospectionEndpoint(_HintIsOnlyAHint, _IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string, token_type_hint):
        return tokens.find(get_db(), token_string, token_type_hint)

    def check_permission(self, token: Token, client, request) -> bool:
        return token.check_client(client)

    def create_introspection_payload(self, token):
        if token is not None and token.grant_id is not None:
            grant = get_db().get(Grant, token.grant_id)
            if not tokens.grant_covers(grant, token.issued_at, clock.utcnow()):
                return {"active": False}
        return super().create_introspection_payload(token)

    def introspect_token(self, token: Token) -> dict:
        client = clients.for_app(get_db(), token.app_id)
        refresh = token.presented_as == "refresh_token"
        expires = token.refresh_expires_at if refresh else token.expires_at
        body = {"active": True, "client_id": client.client_id, "scope": token.scope,
                "token_type": "refresh_token" if refresh else "DPoP" if token.dpop_jkt else "Bearer",
                "iat": int(clock.as_utc(token.issued_at).timestamp()),
                "exp": int(clock.as_utc(expires).timestamp()), "iss": issuer(), "aud": client.client_id}
        if token.grant_id is not None:
            body["sub"] = get_db().get(Grant, token.grant_id).subject
        if token.dpop_jkt:
            body["cnf"] = {"jkt": token.dpop_jkt}  # RFC 9449 §6.2
        return body


# --- the server -------------------------------------------------------------------------------

def _query_client(client_id):
    # The token, revocation and introspection endpoints' first statement: a connection found dead
    # here is replaced, not a 503 (vault.db.retry_if_lost_at_start).
    db = get_db()
    return retry_if_lost_at_start(db, lambda: clients.active_by_client_id(db, client_id))


def _save_token(token, request):  # pragma: no cover - every grant above issues through tokens.issue
    raise RuntimeError("Tokens are issued by vendor_api.tokens, never by Authlib's generator.")


server = AuthorizationServer()
server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), DPoPCodeBinding()])
server.register_grant(RefreshTokenGrant)
server.register_grant(ClientCredentialsGrant)
server.register_endpoint(RevocationEndpoint)
server.register_endpoint(IntrospectionEndpoint)


def finish_authorization_response(response: Response) -> Response:
    """Every redirect back to the client: 303 (RFC 9700 §4.12) and ``iss`` (RFC 9207)."""
    location = response.headers.get("Location")
    if location:
        response.headers["Location"] = add_params_to_uri(location, [("iss", issuer())])
        response.status_code = 303
    return response


def authorization_error_response(error: OAuth2Error) -> Response | None:
    """The redirect that reports ``error`` to the client, or None when it must not redirect.

    Authlib attaches a redirect URI to an error only once the client and the redirect URI were
    both validated; an unknown client or an unregistered/changed redirect URI therefore has none,
    and the caller shows an error page instead (SECURITY.md 1).
    """
    if not error.redirect_uri:
        return None
    status, body, headers = error()
    return finish_authorization_response(server.handle_response(status, body, headers))


def redirect_origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


# --- endpoints --------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


@bp.before_request
def _form_encoded_parameters_only():
    """The token, revocation and introspection endpoints read form parameters (RFC 6749 §4.1.3,
    RFC 7009 §2.1, RFC 7662 §2.1). A JSON body would reach Authlib as no parameters at all and
    come back as a puzzling ``unsupported_grant_type``; say what is wrong instead."""
    if request.method == "POST" and request.mimetype != FORM and request_has_body():
        sent = request.mimetype or "an untyped body"
        return oauth_error(400, "invalid_request", f"Send the parameters in the body as {FORM}, not {sent}.")
    return None


@bp.before_request
def _readable_basic_credentials():
    """Basic credentials that do not decode as UTF-8 made Authlib raise ``UnicodeDecodeError``
    (a 500). They name no client of ours: answer as for any client that fails to authenticate."""
    if basic_credentials_unreadable():
        return oauth_error(401, "invalid_client", "The client credentials are not UTF-8.",
                           challenge='Basic error="invalid_client"')
    return None


def basic_credentials_unreadable() -> bool:
    try:
        extract_basic_authorization(request.headers)
    except ValueError:  # UnicodeDecodeError: RFC 7617 credentials are UTF-8
        return True
    return False


@bp.route("/oauth/token", methods=["POST"])
def token():
    return server.create_token_response()


@bp.route("/oauth/revoke", methods=["POST"])
def revoke():
    return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)


@bp.route("/oauth/introspect", methods=["POST"])
def introspect():
    return server.create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)


def metadata() -> dict:
    """RFC 8414 metadata (Authlib validates metadata but does not serve it)."""
    root = issuer()

    def url(endpoint: str) -> str:
        return root + url_for(endpoint)

    return {
        "issuer": root,
        "authorization_endpoint": root + "/oauth/authorize",
        "token_endpoint": token_endpoint_url(),
        "revocation_endpoint": url("oauth.revoke"),
        "introspection_endpoint": url("oauth.introspect"),
        "registration_endpoint": url("oauth_registration.register_client"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "scopes_supported": scopes_supported(),
        "authorization_response_iss_parameter_supported": True,
        "dpop_signing_alg_values_supported": list(dpop.ALGORITHMS),
        "service_documentation": root + "/api/v1/docs",
    }


@bp.route("/.well-known/oauth-authorization-server")
def server_metadata():
    response = jsonify(metadata())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def init_app(app: Flask) -> None:
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.scopes_supported = scopes_supported()
    # Authlib logs issued tokens and client details at DEBUG: never let those reach a log file.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger("authlib").level))
    app.register_blueprint(bp)
