"""Security headers and cookie settings for every response (SECURITY.md 19-20)."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask

from vault.config import Settings

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def configure_cookies(app: Flask, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="vv_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Plain http on loopback in development; everywhere else the cookie never leaves TLS.
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_absolute_hours),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
    )


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if response.mimetype == "text/html":
            h.setdefault("Cache-Control", "no-store")
        return response
