"""Everything a vendor's software talks to: the OAuth 2.0 server and the vendor API v1.

``init_app`` receives the portal's CSRF and rate-limit extensions as arguments instead of
importing them, so this package never imports ``web`` (the layers contract in setup.cfg).
"""
from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import abort

#: Defaults; override in app.config (e.g. the test suite) or via create_app(config).
DEFAULT_API_RATELIMIT = "600 per minute"
DEFAULT_TOKEN_RATELIMIT = "60 per minute"

_limited: set[int] = set()
#: Names of the blueprints under /api/ (the same in every app): Flask-Limiter leaves them alone.
_api_blueprints: set[str] = set()


def api_rate_limit() -> str:
    return current_app.config["VENDOR_API_RATELIMIT"]


def token_rate_limit() -> str:
    return current_app.config["OAUTH_TOKEN_RATELIMIT"]


def token_rate_limit_key() -> str:
    """Per claimed client *and* address: a stranger naming a client cannot exhaust its budget."""
    from authlib.oauth2.rfc6749.util import extract_basic_authorization
    try:
        claimed, _ = extract_basic_authorization(request.headers)
    except ValueError:  # credentials that are not UTF-8: the endpoint refuses them (oauth.py)
        claimed = None
    claimed = claimed or request.form.get("client_id") or "-"
    return f"oauth:{claimed[:64]}:{request.remote_addr or 'unknown'}"


def registration_rate_limit_key() -> str:
    return f"oauth-register:{request.remote_addr or 'unknown'}"


#: Methods whose body the API reads, always as JSON.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def refuse_non_json_body() -> None:
    """415 for a body in anything but JSON. Without this, flask-smorest reads a form or text body
    as no JSON at all and answers 422 "missing field" for fields the client did send."""
    if request.method not in _BODY_METHODS or request.is_json:
        return
    from .context import request_has_body
    if request_has_body():
        from .documenting import UNSUPPORTED_MEDIA_TYPE
        from .problems import problem
        abort(problem(415, "Unsupported Media Type", UNSUPPORTED_MEDIA_TYPE))


def refuse_unreadable_json() -> None:
    """400 for a JSON body the json module chokes on or that decodes to unstorable text
    (:mod:`.json_body`), before flask-smorest's parser, which would let those errors through."""
    if request.method not in _BODY_METHODS or not request.is_json:
        return
    data = request.get_data(cache=True)
    if not data:  # no body: the parser reports the missing fields
        return
    from .json_body import UnreadableJSON, loads
    try:
        loads(data)
    except UnreadableJSON as exc:
        from .problems import problem
        abort(problem(400, "Bad Request", str(exc)))


def init_app(app: Flask, *, csrf, limiter) -> None:
    from . import oauth, protector, registration, resources, throttle

    app.config.setdefault("VENDOR_API_RATELIMIT", DEFAULT_API_RATELIMIT)
    app.config.setdefault("OAUTH_TOKEN_RATELIMIT", DEFAULT_TOKEN_RATELIMIT)
    oauth.init_app(app)
    registration.init_app(app)
    resources.init_app(app)
    # Every blueprint under /api/: machine endpoints, whichever module registered them.
    api_blueprints = [bp for bp in app.blueprints.values()
                      if (bp.url_prefix or "").startswith(resources.API_PREFIX)]
    # Machine endpoints: clients authenticate themselves; there is no browser session to forge.
    csrf.exempt(oauth.bp)
    csrf.exempt(registration.bp)
    for bp in api_blueprints:
        csrf.exempt(bp)
    limited = frozenset(bp.name for bp in api_blueprints)
    guarded = limited - {"api-docs"}
    _api_blueprints.update(limited)

    # RATELIMIT_ENABLED=False (Flask-Limiter's switch) turns this limit off too; Flask-Limiter then
    # has no strategy to hand out, so it must not be asked for one.
    throttled = app.config.get("RATELIMIT_ENABLED", True)

    @app.before_request
    def _limit_then_authenticate_api_callers():
        # Limit first, so guessing tokens is limited too (per address); then authenticate before
        # flask-smorest looks at the body.
        if request.blueprint in limited:
            if throttled:
                throttle.hit(limiter.limiter, api_rate_limit(), protector.rate_limit_key())
            if request.blueprint in guarded:
                protector.authenticate_first()
                refuse_non_json_body()
                refuse_unreadable_json()

    app.after_request(throttle.add_headers)
    if app.extensions["vrm"].settings.dpop_nonce:
        from . import dpop
        app.after_request(dpop.add_nonce)

    if id(limiter) not in _limited:  # the limiter outlives apps (tests build many): decorate once
        _limited.add(id(limiter))
        # The API's one limit per caller is hit by vendor_api.throttle, not resolved per request.
        limiter.request_filter(lambda: request.blueprint in _api_blueprints)
        limiter.limit(token_rate_limit, key_func=token_rate_limit_key)(oauth.bp)
        limiter.limit(token_rate_limit, key_func=registration_rate_limit_key)(registration.bp)
