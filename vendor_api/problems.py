"""RFC 9457 problem details: the one shape of every machine-facing error."""
from __future__ import annotations

from flask import jsonify


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
