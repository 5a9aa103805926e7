"""Vendor API v1 (flask-smorest): thin views over :mod:`vendor_api.reads`.

Each view: the protector authenticates (header only) and judges liveness; the read service
decides, decrypts and records; the schema dumps its whitelist (``/me`` excepted: see
:func:`_already_in_shape`). Responses are ``no-store``:
they carry personal data.
"""
from __future__ import annotations

import functools

from flask import Flask, current_app, send_from_directory
from flask_smorest import Api, Blueprint

from vault import clock

from .documenting import JsonBodiesOnly, error_documenter, no_store
from .context import get_db, instance, statement_wise
from .protector import CUSTOMER, caller, reads_vault, require_oauth
from .reads import app_summary, read_consent, read_profile, read_terms
from .schemas import AppSchema, ConsentSchema, MeSchema, ProblemSchema, TermsSchema

API_PREFIX = "/api/v1"

blp = Blueprint("vendor_api_v1", __name__, url_prefix=API_PREFIX,
                description="Read what customers chose to share with your app.")

_ERRORS = {401: "Missing, unknown, expired or revoked token, or consent ended (see WWW-Authenticate).",
           403: "The token lacks the scope this endpoint needs.",
           429: "Too many requests from your client: wait for Retry-After seconds."}


_document_errors = error_documenter(blp, _ERRORS)()
blp.after_request(no_store)


def _already_in_shape(view):
    """Answer the view's dict as JSON as it is, skipping the response schema's dump.

    For ``/me`` only: its values were validated into exactly ``MeSchema``'s shapes when they were
    written (vault.schemas), so the dump would return them unchanged — and it cost ~1/20 of the
    hottest call (bench/RESULTS.md). ``test_me_bodies_are_what_the_schema_would_dump`` and the
    schema fuzzing hold that true. The schema still documents the answer. Outside
    ``statement_wise``, so the entry is committed before anything is serialised.
    """
    @functools.wraps(view)
    def answered(*args, **kwargs):
        return current_app.json.response(view(*args, **kwargs))
    return answered


@blp.route("/me")
@blp.doc(security=[{"oauth2": ["profile.name"]}])
@_document_errors
@blp.response(200, MeSchema)
@_already_in_shape
@require_oauth(CUSTOMER)
@statement_wise
@reads_vault
def me():
    """The customer's consented fields.

    Only fields inside the customer's consent (narrowed by the token's scope) that the customer
    has filled are present; anything else is absent, never null. `sub` is this customer's id at
    your app and differs between apps.
    """
    return read_profile(get_db(), instance().keys, caller(), now=clock.utcnow())


@blp.route("/me/consent")
@blp.doc(security=[{"oauth2": []}])
@_document_errors
@blp.response(200, ConsentSchema)
@require_oauth(CUSTOMER)
@statement_wise
def me_consent():
    """What your app holds from this customer: scopes, fields, purpose, granted and expiry times."""
    return read_consent(get_db(), caller(), now=clock.utcnow())


@blp.route("/me/terms")
@blp.doc(security=[{"oauth2": []}])
@_document_errors
@blp.response(200, TermsSchema)
@require_oauth(CUSTOMER)
@statement_wise
def me_terms():
    """The customer's proffered terms your app accepted, fixed when consent was given.

    `agreed` is false (and `agreement` null) when your app did not accept the customer's terms at
    that time. The catalogue of standard terms is at `/.well-known/vrm-terms`.
    """
    return read_terms(get_db(), caller(), now=clock.utcnow())


@blp.route("/app")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document_errors
@blp.response(200, AppSchema)
@require_oauth("vendor:read")
def app_info():
    """Your app's registration and grant counts (client-credentials token with `vendor:read`).

    Never returns customer data.
    """
    return app_summary(get_db(), caller(), now=clock.utcnow())


class VendorApi(Api):
    """flask-smorest's Api, minus its app-wide HTTP error handler: web.errors owns error
    rendering (problem+json under /api/), and two handlers for one exception class would fight."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        pass


# --- offline documentation ---------------------------------------------------------------------

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>VRM Vault vendor API v1</title>
<link rel="stylesheet" href="{prefix}/docs/assets/swagger-ui.css">
</head>
<body>
<noscript><p>This page needs JavaScript. The specification itself is at
<a href="{prefix}/openapi.json">{prefix}/openapi.json</a>.</p></noscript>
<div id="swagger-ui" data-spec-url="{prefix}/openapi.json"></div>
<script src="{prefix}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{prefix}/docs/init.js"></script>
</body>
</html>
"""

# A separate file rather than an inline script: the CSP allows scripts from 'self' only.
DOCS_INIT_JS = """window.addEventListener("load", function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({url: el.getAttribute("data-spec-url"), dom_id: "#swagger-ui",
                               validatorUrl: null, deepLinking: true, tryItOutEnabled: false});
});
"""

DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")


def _register_docs(app: Flask) -> None:
    """Swagger UI served from the installed ``swagger-ui-bundle`` package: no CDN, works offline."""
    from swagger_ui_bundle import swagger_ui_path

    def docs():
        return current_app.response_class(DOCS_HTML.format(prefix=API_PREFIX), mimetype="text/html")

    def docs_init():
        return current_app.response_class(DOCS_INIT_JS, mimetype="text/javascript")

    def docs_asset(name: str):
        if name not in DOCS_ASSETS:
            from flask import abort
            abort(404)
        return send_from_directory(swagger_ui_path, name, max_age=86400)

    app.add_url_rule(f"{API_PREFIX}/docs", "vendor_api_docs", docs)
    app.add_url_rule(f"{API_PREFIX}/docs/init.js", "vendor_api_docs_init", docs_init)
    app.add_url_rule(f"{API_PREFIX}/docs/assets/<name>", "vendor_api_docs_asset", docs_asset)


def init_app(app: Flask) -> VendorApi:
    app.config.setdefault("API_TITLE", "VRM Vault vendor API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = VendorApi(app, spec_kwargs={"extra_plugins": [JsonBodiesOnly()], "info": {"description": (
        "Customers grant your app scoped, revocable, expiring consent; this API returns only what "
        "they granted. Get a token with the authorization code flow (PKCE S256 required) described "
        "at /.well-known/oauth-authorization-server.")}})
    api.spec.components.security_scheme("oauth2", {
        "type": "oauth2",
        "description": ("Send the access token as 'Authorization: Bearer <token>'. A token issued "
                        "against a DPoP proof (RFC 9449, token_type \"DPoP\") must be sent as "
                        "'Authorization: DPoP <token>' with a fresh 'DPoP' proof header for each call "
                        "(htm, htu, iat, jti, and ath = base64url(SHA-256(token)))."),
        "flows": {
            "authorizationCode": {"authorizationUrl": "/oauth/authorize", "tokenUrl": "/oauth/token",
                                  "refreshUrl": "/oauth/token",
                                  "scopes": _scope_labels()},
            "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {"vendor:read": "Vendor-level reads"}},
        }})
    api.register_blueprint(blp)
    from .cases_api import blp as cases_blp
    api.register_blueprint(cases_blp)
    from .intents_api import blp as intents_blp
    api.register_blueprint(intents_blp)
    from .integration import blp as integration_blp
    api.register_blueprint(integration_blp)
    from .purchases_api import blp as purchases_blp
    api.register_blueprint(purchases_blp)
    from .contact_api import blp as contact_blp
    api.register_blueprint(contact_blp)
    _register_docs(app)
    return api


def _scope_labels() -> dict[str, str]:
    from consent.scopes import SCOPES
    return {s.id: s.label("en") for s in SCOPES.values()}
