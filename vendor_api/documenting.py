"""What every vendor API blueprint shares: documented problem responses and no caching.

Each blueprint keeps its own table of error descriptions (what a 404 means differs per
resource); this turns the table into flask-smorest ``alt_response`` declarations, so every
problem+json answer appears in /api/v1/openapi.json and the fuzz test checks it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from apispec import BasePlugin
from flask import Response, jsonify
from flask_smorest import Blueprint

from .schemas import ProblemSchema


def error_documenter(blp: Blueprint, descriptions: Mapping[int, str]) -> Callable:
    """``@document(401, 404)`` declares those statuses (``@document()``: every one in the table);
    ``(status, text)`` pairs add or override one for that view only."""
    def document(*statuses):
        chosen: dict[int, str] = {}
        for status in statuses or tuple(descriptions):
            code, text = status if isinstance(status, tuple) else (status, descriptions[status])
            chosen[code] = text
        if not statuses:
            chosen = dict(descriptions)

        def decorate(view):
            for code, text in chosen.items():
                view = blp.alt_response(code, schema=ProblemSchema, description=text,
                                        content_type="application/problem+json")(view)
            return view
        return decorate
    return document


#: What the API answers to a body that is not JSON (``vendor_api.refuse_non_json_body``).
UNSUPPORTED_MEDIA_TYPE = "The body is not `application/json` (sent with another or no Content-Type)."


class JsonBodiesOnly(BasePlugin):
    """Documents 415 on every operation that takes a request body: the check is one before-request
    hook for the whole API rather than a declaration per view, so its documentation is too."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {})["415"] = {
                    "description": UNSUPPORTED_MEDIA_TYPE,
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def no_store(response: Response) -> Response:
    """Responses carry personal data or secrets: never cached (RFC 6749 §5.1, SECURITY.md)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def oauth_error(status: int, error: str, description: str, *, challenge: str | None = None) -> Response:
    """An OAuth-style error (RFC 6749 §5.2, RFC 7591 §3.2.2): the endpoints under /oauth answer in
    this shape, not as problem+json, because OAuth clients read ``error``."""
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return no_store(response)
