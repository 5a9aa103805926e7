"""Service cases for vendors: list, read, answer and move on the cases customers opened with them.

Vendor-level endpoints (a client-credentials token): the app addresses cases by their reference
and sees only those whose customer grants it ``cases.read`` right now; answering or changing the
status needs ``cases.write``. A case of another app, or of a customer who did not share cases,
is a 404 exactly like a case that does not exist. Every look and every answer is a ledger entry on
the customer's chain.
"""
from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from consent import cases
from consent.models import Grant
from vault import clock
from vault.errors import ValidationFailed

from .documenting import error_documenter, no_store
from .context import get_db, instance
from .problems import abort_invalid, problem
from .protector import caller, require_oauth

blp = Blueprint("vendor_api_cases", __name__, url_prefix="/api/v1/cases",
                description="Service cases customers opened with your app (needs their cases.read / cases.write).")

_ERRORS = {400: "The body is not well-formed JSON.",
           401: "Missing, unknown, expired or revoked token.",
           404: "No such case for your app, or the customer does not share cases with you now.",
           409: "The change does not fit the case's current status.",
           422: "The request body is not valid.",
           429: "Too many requests: wait for Retry-After seconds."}


_document = error_documenter(blp, _ERRORS)()
blp.after_request(no_store)  # case threads are the customer's words


class MessageOut(Schema):
    id = fields.String(required=True)
    author = fields.String(required=True, metadata={"description": "customer, vendor or system"})
    at = fields.DateTime(required=True)
    text = fields.String(required=True)


class CaseOut(Schema):
    reference = fields.String(required=True, metadata={"example": "VV-2026-000123"})
    sub = fields.String(required=True, metadata={"description": "The customer's id at your app."})
    category = fields.String(required=True)
    priority = fields.String(required=True)
    status = fields.String(required=True)
    opened_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    due_first_response_at = fields.DateTime(required=True)
    due_resolution_at = fields.DateTime(required=True)
    first_response_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    overdue = fields.List(fields.String(), required=True,
                          metadata={"description": "Targets missed: first_response, resolution."})
    rating = fields.Integer(allow_none=True, metadata={"description": "1-5, given by the customer on closing."})
    rating_comment = fields.String(allow_none=True)
    messages = fields.List(fields.Nested(MessageOut))


class CasePage(Schema):
    cases = fields.List(fields.Nested(CaseOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Pass as `cursor` for the next page; null at the end."})


class CaseQuery(Schema):
    status = fields.String(validate=validate.OneOf(cases.STATUSES))
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{1,9}$"),
                           metadata={"description": "From the previous page's next_cursor."})
    limit = fields.Integer(load_default=cases.PAGE, validate=validate.Range(min=1, max=200))


class ReplyIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=cases.MAX_MESSAGE))
    status = fields.String(validate=validate.OneOf(cases.STATUSES),
                           metadata={"description": "Optionally move the case on in the same call."})


class StatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(cases.STATUSES))


def _subject(db, case) -> str:
    from sqlalchemy import select
    return db.scalar(select(Grant.subject).where(Grant.account_id == case.account_id, Grant.app_id == case.app_id))


def _out(db, case, *, with_messages: bool) -> dict:
    now = clock.utcnow()
    out = {name: getattr(case, name) for name in (
        "reference", "category", "priority", "status", "opened_at", "updated_at", "due_first_response_at",
        "due_resolution_at", "first_response_at", "resolved_at", "closed_at", "rating")}
    out.update(sub=_subject(db, case), overdue=case.overdue(now),
               rating_comment=cases.read_rating_comment(db, instance().keys, case) or None)
    if with_messages:
        out["messages"] = [m.__dict__ for m in cases.messages(db, instance().keys, case)]
    return out


def _case_or_404(reference: str, access: str = "read"):
    try:
        return cases.get_for_app(get_db(), caller().app_id, reference, access)
    except cases.CaseNotFound:
        abort(problem(404, "Not Found", "No such case for your app."))


def _conflict_or_invalid(exc):
    if isinstance(exc, ValidationFailed):
        abort_invalid(exc.errors)
    abort(problem(409, "Conflict", str(exc)))


@blp.route("")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document
@blp.arguments(CaseQuery, location="query")
@blp.response(200, CasePage)
@require_oauth("vendor:read")
def list_cases(query):
    """Cases of customers who share cases with your app, oldest first (without their threads)."""
    db = get_db()
    after = int(query["cursor"]) if query.get("cursor") else None
    found, next_after = cases.for_app(db, caller().app_id, status=query.get("status"), after_id=after,
                                      limit=query["limit"])
    for case in found:
        cases.vendor_read(db, case)
    return {"cases": [_out(db, c, with_messages=False) for c in found],
            "next_cursor": str(next_after) if next_after else None}


@blp.route("/<reference>")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document
@blp.response(200, CaseOut)
@require_oauth("vendor:read")
def get_case(reference):
    """One case with its whole thread."""
    db = get_db()
    case = _case_or_404(reference)
    cases.vendor_read(db, case)
    return _out(db, case, with_messages=True)


@blp.route("/<reference>/messages", methods=["POST"])
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document
@blp.arguments(ReplyIn)
@blp.response(201, CaseOut)
@require_oauth("vendor:read")
def reply(body, reference):
    """Answer the customer (needs their cases.write); the first answer stops the first-response clock."""
    db = get_db()
    case = _case_or_404(reference, "write")
    try:
        cases.vendor_reply(db, instance().keys, case, body["text"], status=body.get("status"))
    except (cases.CaseConflict, ValidationFailed) as exc:
        _conflict_or_invalid(exc)
    return _out(db, case, with_messages=True)


@blp.route("/<reference>", methods=["PATCH"])
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document
@blp.arguments(StatusIn)
@blp.response(200, CaseOut)
@require_oauth("vendor:read")
def set_status(body, reference):
    """Move the case on: in_progress, waiting_on_customer, resolved (the customer closes it)."""
    db = get_db()
    case = _case_or_404(reference, "write")
    try:
        cases.vendor_set_status(db, case, body["status"])
    except (cases.CaseConflict, ValidationFailed) as exc:
        _conflict_or_invalid(exc)
    return _out(db, case, with_messages=False)
