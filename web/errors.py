"""HTTP errors: readable pages in the portal, problem+json (RFC 9457) under /api and /oauth.

Domain errors are mapped here, in one place; views do not catch-and-stringify.
"""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from vendor_api.problems import problem

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying while the database is unavailable.
DATABASE_RETRY_AFTER = 5

MACHINE_PREFIXES = ("/api/", "/oauth/", "/.well-known/")


#: Where a person's browser lands (the consent screen): errors there are pages, not JSON.
PERSON_FACING = ("/oauth/authorize",)


def wants_problem_json() -> bool:
    return request.path.startswith(MACHINE_PREFIXES) and not request.path.startswith(PERSON_FACING)


def _page(status: int, title: str, message: str):
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc):
        message = _("This form has expired or did not come from this site. Go back, reload the page and try again.")
        if wants_problem_json():
            return problem(400, "CSRF check failed", message)
        return _page(400, _("Please try again"), message)

    @app.errorhandler(429)
    def _too_many(exc):
        retry = getattr(exc, "retry_after", None)
        if wants_problem_json():
            response = problem(429, "Too Many Requests", "Slow down and retry later.")
        else:
            response = app.make_response(_page(429, _("Too many attempts"),
                                               _("Too many attempts. Wait a minute and try again.")))
        response.headers.setdefault("Retry-After", str(retry or 60))
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if wants_problem_json():
            # webargs (flask-smorest) puts field-level messages on a 422: they are the useful part
            messages = (getattr(exc, "data", None) or {}).get("messages")
            extra = {"errors": messages} if isinstance(messages, dict) else {}
            response = problem(exc.code or 500, exc.name, **extra)
        else:
            response = app.make_response(_page(exc.code or 500, exc.name, exc.description or ""))
        for key, value in (exc.get_headers() if exc.response is None else []):
            if key.lower() not in ("content-type",):
                response.headers[key] = value
        return response

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError):
        # The database is down, restarting or locked: a temporary state the client should retry,
        # not a bug. A disconnect invalidates the pool and idle connections are pinged before use
        # (vault.db), so the first request after recovery succeeds.
        log.warning("Database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        message = _("The service is briefly unavailable. Nothing was saved; please try again in a moment.")
        if wants_problem_json():
            response = problem(503, "Service Unavailable", "The database is unavailable; retry shortly.")
        else:
            response = app.make_response(_page(503, _("Please try again shortly"), message))
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http(exc)
        log.exception("Unhandled error on %s %s", request.method, request.path)
        if wants_problem_json():
            return problem(500, "Internal Server Error")
        return _page(500, _("Something went wrong"),
                     _("Something went wrong on our side. Nothing was saved; please try again."))
