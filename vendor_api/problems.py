"""RFC 9457 problem details: the one shape of every machine-facing error."""
from __future__ import annotations

from typing import NoReturn

from flask import jsonify
from werkzeug.exceptions import abort


def problem(status: int, title: str, detail: str | None = None, *, headers: dict | None = None, **extra):
    """A ``application/problem+json`` response. Generic on purpose: never a stack trace."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def abort_invalid(errors: dict) -> NoReturn:
    """422 naming each field at fault: the API's answer to a service's ``ValidationFailed``."""
    abort(problem(422, "Unprocessable Entity", "The request is not valid.", errors=errors))
