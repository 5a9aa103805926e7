"""Dynamic client registration (RFC 7591): ``POST /oauth/register`` with an initial access token.

A vendor's tooling registers an app for its organisation without a person in the console: it
sends the client metadata as JSON with ``Authorization: Bearer <initial access token>`` (a token
a member created in the console, see :mod:`vendor_api.initial_tokens`) and receives the client
id and secret (the secret only in this response).

Why not Authlib's ``ClientRegistrationEndpoint``: it generates the client id and secret itself
(ours come from :func:`vendor_api.clients.register_app`, hashed on the way in), checks redirect
URIs only for URI syntax (ours: https or loopback, exact, no fragment, answered with
``invalid_redirect_uri``), and answers a missing token with 403 ``access_denied`` where RFC 6750
wants 401. What is left of it here is its error vocabulary.

Metadata understood (RFC 7591 §2, unknown members are ignored as §2 requires):

* ``redirect_uris`` (required), ``client_name`` (required: customers see it), ``client_uri``
  (default: the organisation's website), ``scope`` (required: space-separated consent scopes),
  ``grant_types`` (default ``["authorization_code"]``), ``response_types`` (``["code"]`` or
  nothing), ``token_endpoint_auth_method`` (default ``client_secret_basic``; no public clients);
* two extensions the consent screen needs: ``purpose`` (required: what the data is for, in
  words a customer reads) and ``purpose_category`` (a DPV purpose, default
  ``dpv:ServiceProvision``).

Client management (RFC 7592) at ``registration_client_uri`` (``/oauth/register/<client_id>``),
with ``Authorization: Bearer <registration_access_token>`` from the registration response:
``GET`` reads the client's current metadata, ``PUT`` replaces it (the whole of it: members left
out take their defaults, or are refused if required), ``DELETE`` retires the app
(:func:`vendor_api.clients.retire_app`). Each successful ``GET`` or ``PUT`` answers with a *new*
registration access token and the one presented stops working (§2.1 allows it; §3 requires a
token in every answer, and only its digest is kept), so a client keeps the latest answer's
token. A token that is unknown, spent, or for another client, and a client id that does not
exist or is retired, all get the same 401 (§2.1: nothing is revealed about other clients). A
member of the organisation can issue a fresh token in the vendor console if one is lost.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, jsonify, request, url_for
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import Session

from consent.models import VendorApp, VendorOrg
from consent.scopes import DPV_PURPOSES, SCOPES
from vault.clock import utcnow
from vault.errors import ValidationFailed

from . import clients, console, initial_tokens, json_body
from .console import NAME_MAX, PURPOSE_MAX, WEBSITE_MAX
from .documenting import no_store, oauth_error
from .context import get_db
from .models import AUTH_METHODS, GRANT_TYPES, OAuthClient

log = logging.getLogger(__name__)

bp = Blueprint("oauth_registration", __name__)

REGISTRATION_PATH = "/oauth/register"
DEFAULT_GRANT_TYPES = ["authorization_code"]


class RegistrationError(Exception):
    """An RFC 7591 §3.2.2 error: ``error`` code and a description for the developer."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


class ClientMetadata(Schema):
    """The metadata we read; types and sizes only (the rules are in :func:`check_metadata`)."""

    class Meta:
        unknown = EXCLUDE

    redirect_uris = fields.List(fields.String(validate=validate.Length(max=500)), required=True,
                                validate=validate.Length(min=1, max=10))
    client_name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    client_uri = fields.String(validate=validate.Length(max=WEBSITE_MAX))
    scope = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    grant_types = fields.List(fields.String(validate=validate.Length(max=64)), validate=validate.Length(max=10))
    response_types = fields.List(fields.String(validate=validate.Length(max=64)), validate=validate.Length(max=10))
    token_endpoint_auth_method = fields.String(validate=validate.Length(max=64))
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=PURPOSE_MAX))
    purpose_category = fields.String(validate=validate.Length(max=64))

    @validates_schema
    def _no_blank_text(self, data, **kwargs):
        for name in ("client_name", "purpose"):
            if name in data and not data[name].strip():
                raise ValidationError("must not be blank", name)


def _describe(messages: dict) -> str:
    parts = []
    for name, problem in sorted(messages.items(), key=lambda kv: str(kv[0])):
        if isinstance(problem, dict):  # a list's items: {index: [messages]}
            problem = [m for sub in problem.values() for m in (sub if isinstance(sub, list) else [sub])]
        parts.append(f"{name}: {'; '.join(str(p) for p in problem) if isinstance(problem, list) else problem}")
    return "; ".join(parts)


def _metadata_body():
    """The request's JSON, read strictly (:mod:`.json_body`); None when it is not JSON at all."""
    if not request.is_json:
        return None
    try:
        return json_body.loads(request.get_data(cache=True), refuse_nul=True)
    except json_body.UnreadableJSON as exc:
        raise RegistrationError("invalid_client_metadata", str(exc)) from None


def check_metadata(body, org: VendorOrg) -> dict:
    """The metadata to register, with defaults filled in; RegistrationError if it cannot be."""
    if not isinstance(body, dict):
        raise RegistrationError("invalid_client_metadata", "The request body must be a JSON object.")
    try:
        data = ClientMetadata().load(body)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        code = "invalid_redirect_uri" if set(messages) == {"redirect_uris"} else "invalid_client_metadata"
        raise RegistrationError(code, _describe(messages)) from None

    problems = [p for p in (clients.redirect_uri_problem(u) for u in data["redirect_uris"]) if p]
    if problems:
        raise RegistrationError("invalid_redirect_uri", "; ".join(problems))

    scopes = list(dict.fromkeys(s for s in data["scope"].split(" ") if s))
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise RegistrationError("invalid_client_metadata",
                                f"scope: unknown scopes {' '.join(unknown)}" if unknown else "scope: name at least one")

    grant_types = list(dict.fromkeys(data.get("grant_types") or DEFAULT_GRANT_TYPES))
    if any(g not in GRANT_TYPES for g in grant_types):
        raise RegistrationError("invalid_client_metadata",
                                f"grant_types: supported are {', '.join(GRANT_TYPES)}")
    code_flow = "authorization_code" in grant_types
    response_types = list(dict.fromkeys(data["response_types"])) if "response_types" in data \
        else (["code"] if code_flow else [])
    if any(r != "code" for r in response_types):
        raise RegistrationError("invalid_client_metadata", "response_types: only code is supported")
    if code_flow != ("code" in response_types):  # RFC 7591 §2.1: the two must agree
        raise RegistrationError("invalid_client_metadata",
                                "grant_types and response_types disagree: authorization_code goes with code")
    if "refresh_token" in grant_types and not code_flow:
        raise RegistrationError("invalid_client_metadata", "grant_types: refresh_token needs authorization_code")

    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise RegistrationError("invalid_client_metadata",
                                f"token_endpoint_auth_method: supported are {', '.join(AUTH_METHODS)}")
    category = data.get("purpose_category", "dpv:ServiceProvision")
    if category not in DPV_PURPOSES:
        raise RegistrationError("invalid_client_metadata", "purpose_category: not a supported DPV purpose")
    client_uri = data.get("client_uri") or org.website
    return {"redirect_uris": list(dict.fromkeys(data["redirect_uris"])), "client_name": data["client_name"].strip(),
            "client_uri": client_uri, "scope": " ".join(scopes), "grant_types": grant_types,
            "response_types": response_types, "token_endpoint_auth_method": method,
            "purpose": data["purpose"].strip(), "purpose_category": category}


#: Our names for the metadata members, where the services name them otherwise.
_MEMBER = {"website": "client_uri", "name": "client_name", "scopes": "scope"}
#: Read-only members a client may echo back in a PUT (RFC 7592 §2.2 lets the server ignore them).
_SERVER_MEMBERS = ("registration_access_token", "registration_client_uri", "client_id_issued_at",
                   "client_secret_expires_at")


def _refused(exc: ValidationFailed) -> RegistrationError:
    """A service's ValidationFailed (e.g. a client_uri that is not an http(s) URL) in RFC 7591 terms."""
    field = next(iter(exc.errors))
    code = "invalid_redirect_uri" if field == "redirect_uris" else "invalid_client_metadata"
    return RegistrationError(code, f"{_MEMBER.get(field, field)}: {'; '.join(exc.errors[field])}")


def register(db: Session, org: VendorOrg, metadata: dict, *, now: datetime) -> dict:
    """Create the app and client from checked metadata; the RFC 7591 §3.2.1 response body, with
    the RFC 7592 registration access token (the view adds ``registration_client_uri``)."""
    try:
        app, client, secret = clients.register_app(
            db, org=org, name=metadata["client_name"], website=metadata["client_uri"],
            purpose=metadata["purpose"], purpose_category=metadata["purpose_category"],
            scopes=metadata["scope"].split(" "), redirect_uris=metadata["redirect_uris"],
            grant_types=metadata["grant_types"], auth_method=metadata["token_endpoint_auth_method"], now=now)
    except ValidationFailed as exc:
        raise _refused(exc) from None
    return {"client_id": app.client_id, "client_secret": secret,
            "client_id_issued_at": int(now.timestamp()), "client_secret_expires_at": 0, **metadata,
            "registration_access_token": clients.issue_registration_token(db, client)}


def client_information(app: VendorApp, client: OAuthClient) -> dict:
    """The client's metadata as stored now (RFC 7592 §3), without secret or token."""
    grant_types = client.grant_types
    return {"client_id": app.client_id, "client_id_issued_at": int(client.created_at.timestamp()),
            "client_secret_expires_at": 0, "redirect_uris": client.redirect_uris, "client_name": app.name,
            "client_uri": app.website, "scope": " ".join(app.requested_scopes), "grant_types": grant_types,
            "response_types": ["code"] if "authorization_code" in grant_types else [],
            "token_endpoint_auth_method": client.token_endpoint_auth_method, "purpose": app.purpose,
            "purpose_category": app.purpose_category}


def replace_metadata(db: Session, app: VendorApp, client: OAuthClient, body) -> None:
    """RFC 7592 §2.2: the body replaces the client's metadata. It must name the client's own id;
    a ``client_secret`` in it must be the current one (it cannot be changed here: the console
    rotates secrets); the server's own members may be echoed and are ignored."""
    if not isinstance(body, dict):
        raise RegistrationError("invalid_client_metadata", "The request body must be a JSON object.")
    if body.get("client_id") != app.client_id:
        raise RegistrationError("invalid_client_metadata", "client_id: must be present and be this client's id.")
    if "client_secret" in body and not (isinstance(body["client_secret"], str)
                                        and client.check_client_secret(body["client_secret"])):
        raise RegistrationError("invalid_client_metadata",
                                "client_secret: does not match; leave it out, or rotate it in the vendor console.")
    metadata = check_metadata({k: v for k, v in body.items() if k not in _SERVER_MEMBERS}, app.org)
    settings = console.AppSettings(name=metadata["client_name"], website=metadata["client_uri"],
                                   purpose=metadata["purpose"], purpose_category=metadata["purpose_category"],
                                   scopes=metadata["scope"].split(" "), redirect_uris=metadata["redirect_uris"])
    try:
        console.update_app(db, app, client, settings)
    except ValidationFailed as exc:
        raise _refused(exc) from None
    client.grant_types = metadata["grant_types"]
    client.token_endpoint_auth_method = metadata["token_endpoint_auth_method"]
    db.flush()


# --- the endpoint -----------------------------------------------------------------------------

_no_store = no_store


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _invalid_token(description: str) -> Response:
    return oauth_error(401, "invalid_token", description,
                  challenge='Bearer realm="client-registration", error="invalid_token"')


def _unknown_registration() -> Response:
    return _invalid_token("The registration access token is unknown or spent, or the client does not exist.")


def _client_uri(client_id: str) -> str:
    return url_for("oauth_registration.manage_client", client_id=client_id, _external=True)


@bp.route(REGISTRATION_PATH, methods=["POST"])
def register_client():
    db, now = get_db(), utcnow()
    presented = _bearer()
    if presented is None:
        return oauth_error(401, "invalid_token", "Send an initial access token from the vendor console as "
                      "'Authorization: Bearer <token>'.", challenge='Bearer realm="client-registration"')
    token = initial_tokens.authenticate(db, presented, now=now)
    if token is None:
        return _invalid_token("The initial access token is unknown, expired, revoked or used up.")
    org = db.get(VendorOrg, token.org_id)
    try:
        metadata = check_metadata(_metadata_body(), org)
        if not initial_tokens.consume(db, token, now=now):
            return _invalid_token("The initial access token is used up.")
        body = register(db, org, metadata, now=now)
    except RegistrationError as exc:
        return oauth_error(400, exc.error, exc.description)
    log.info("Client %s registered for organisation %s with initial access token %s.",
             body["client_id"], org.id, token.id)
    response = jsonify({**body, "registration_client_uri": _client_uri(body["client_id"])})
    response.status_code = 201
    return _no_store(response)


@bp.route(REGISTRATION_PATH + "/<client_id>", methods=["GET", "PUT", "DELETE"])
def manage_client(client_id: str):
    """RFC 7592 client configuration endpoint (see the module docstring)."""
    db = get_db()
    presented = _bearer()
    if presented is None:
        return oauth_error(401, "invalid_token", "Send the registration access token from the registration response "
                      "as 'Authorization: Bearer <token>'.", challenge='Bearer realm="client-registration"')
    client = clients.active_by_client_id(db, client_id)
    if client is None or not clients.registration_token_matches(client, presented):
        return _unknown_registration()
    app = client.app
    if request.method == "DELETE":
        revoked = clients.retire_app(db, app, client, now=utcnow())
        log.info("Client %s retired through its registration access token; %d tokens revoked.", client_id, revoked)
        return _no_store(Response(status=204))
    if request.method == "PUT":
        try:
            replace_metadata(db, app, client, _metadata_body())
        except RegistrationError as exc:
            return oauth_error(400, exc.error, exc.description)
    fresh = clients.replace_registration_token(db, client, presented)
    if fresh is None:  # another request spent the same token a moment ago
        return _unknown_registration()
    if request.method == "PUT":
        log.info("Client %s metadata replaced through its registration access token.", client_id)
    return _no_store(jsonify({**client_information(app, client), "registration_access_token": fresh,
                              "registration_client_uri": _client_uri(client_id)}))


def init_app(app) -> None:
    app.register_blueprint(bp)
