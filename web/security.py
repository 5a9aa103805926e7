"""Security headers and cookie settings for every response (SECURITY.md 19-20)."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from vault.config import Settings

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


#: Token-authenticated machine endpoints: no cookie session is opened for them.
SESSIONLESS_PREFIXES = ("/api/",)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except on the vendor API: callers there authenticate with
    tokens, never cookies, and opening a session (building its signer) cost ~15 µs of every call.
    They get Flask's null session: readable, empty, never saved, and an error if written."""

    def open_session(self, app, request):
        if request.path.startswith(SESSIONLESS_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)


def configure_cookies(app: Flask, settings: Settings) -> None:
    app.session_interface = CookieSessions()
    app.config.update(
        SESSION_COOKIE_NAME="vv_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Plain http on loopback in development; everywhere else the cookie never leaves TLS.
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_absolute_hours),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
    )


#: Sent on every response unless the view set its own value.
HEADERS = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
           ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
           ("Cross-Origin-Opener-Policy", "same-origin"))


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        # One pass over what is there, then appends: ``setdefault`` per header would rescan the
        # whole list each time (this runs on every API call; bench/RESULTS.md).
        h = response.headers
        present = {key.lower() for key in h.keys()}
        for key, value in HEADERS:
            if key.lower() not in present:
                h.add(key, value)
        if "cache-control" not in present and response.mimetype == "text/html":
            h.add("Cache-Control", "no-store")
        return response
