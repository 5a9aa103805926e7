"""Keeping a vendor's CRM in sync: the change feed and deletion confirmations.

Vendor-level endpoints (a client-credentials token with ``vendor:read``): the app sees events
about its own customers only, each named by the app's pairwise ``sub``. Webhooks carry the same
event documents (see :mod:`vendor_api.webhooks` and docs/webhooks.md).
"""
from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from consent import deletions, feed
from consent.models import VendorApp
from consent.outbox import AppEvent
from vault import clock

from .documenting import error_documenter, no_store
from .context import get_db
from .problems import problem
from .protector import caller, require_oauth
from .schemas import Instant
from .webhooks import event_document

blp = Blueprint("vendor_api_integration", __name__, url_prefix="/api/v1",
                description="Stay in sync: the change feed of your customers' consent and data changes, "
                            "and confirmations that you deleted a customer's data.")

_ERRORS = {400: "The body is not well-formed JSON.",
           401: "Missing, unknown, expired or revoked token.",
           403: "The token lacks vendor:read (use a client-credentials token).",
           422: "The request is not valid.",
           429: "Too many requests: wait for Retry-After seconds."}


def _document(*extra):
    """Every status of the table, plus ``(status, text)`` pairs for this view."""
    return error_documenter(blp, {**_ERRORS, **dict(extra)})()


blp.after_request(no_store)


class EventOut(Schema):
    position = fields.Integer(required=True, metadata={"description": "The event's place in your feed."})
    id = fields.String(required=True, metadata={"example": "evt_3q2Yb0f6kS4vJxQe8wKp1A"})
    type = fields.String(required=True, metadata={"example": "consent.revoked"})
    created_at = fields.String(required=True, metadata={"format": "date-time", "example": "2026-03-01T09:00:00+00:00"})
    app = fields.String(required=True, metadata={"description": "Your client id."})
    sub = fields.String(allow_none=True, required=True, metadata={"description": "The customer's id at your app."})
    data = fields.Dict(required=True, metadata={"description": "Names, ids and times; never values."})


class ChangesQuery(Schema):
    cursor = fields.String(validate=validate.Regexp(r"^c1\.[0-9]{1,18}$"),
                           metadata={"description": "next_cursor of the previous page; omit to start at the beginning."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=feed.MAX_PAGE))


class ChangesPage(Schema):
    events = fields.List(fields.Nested(EventOut), required=True)
    next_cursor = fields.String(required=True, metadata={
        "description": "Pass as `cursor` next time; when no events came back it is the cursor you sent."})
    has_more = fields.Boolean(required=True)


class ConfirmationIn(Schema):
    sub = fields.String(required=True, validate=validate.Length(min=1, max=64),
                        metadata={"description": "The customer's id at your app."})
    event_id = fields.String(validate=validate.Length(max=40), metadata={
        "description": "The consent.revoked / consent.expired / account.erased event you answer (optional)."})
    grant = fields.String(validate=validate.Length(max=40),
                          metadata={"description": "The grant reference from the event's data (optional)."})
    deleted_at = Instant(required=True, metadata={"description": "When you deleted the data."})
    note = fields.String(validate=validate.Length(max=deletions.NOTE_MAX),
                         metadata={"description": "What you deleted or kept and why (no personal data)."})


class ConfirmationOut(Schema):
    id = fields.String(required=True)
    sub = fields.String(required=True)
    event_id = fields.String(allow_none=True, required=True)
    deleted_at = fields.DateTime(required=True)
    recorded_at = fields.DateTime(required=True)


@blp.route("/changes")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document()
@blp.arguments(ChangesQuery, location="query")
@blp.response(200, ChangesPage)
@require_oauth("vendor:read")
def changes(query):
    """Your customers' grant events and consented-field changes, in order, a page at a time.

    Start without a cursor and keep the `next_cursor` of each page: the feed never skips or
    repeats an event, even while changes happen. Event types: consent.granted, consent.updated,
    consent.revoked, consent.expired, profile.updated (names of changed fields you may read),
    account.erased. The same documents arrive by webhook.
    """
    db = get_db()
    app_id = caller().app_id
    try:
        feed.decode_cursor(query.get("cursor"))
    except feed.BadCursor as exc:
        abort(problem(422, "Unprocessable Entity", str(exc)))
    # Commit the sealing before anything is shown: a position, once seen, must never change.
    feed.seal(db, app_id)
    db.commit()
    found = feed.page(db, app_id, query.get("cursor"), query["limit"])
    client_id = caller().client_id
    return {"events": [dict(event_document(e, client_id), position=e.position) for e in found.events],
            "next_cursor": found.next_cursor, "has_more": found.has_more}


@blp.route("/deletion-confirmations", methods=["POST"])
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document((404, "No such customer, event or grant at your app."),
           (409, "The customer's consent to your app has not ended (nothing to confirm), "
                 "or deleted_at is in the future."))
@blp.arguments(ConfirmationIn)
@blp.response(201, ConfirmationOut)
@require_oauth("vendor:read")
def confirm_deletion(body):
    """Confirm you deleted what you held about a customer after consent.revoked, consent.expired
    or account.erased. The customer sees it on their connection page; it is written to their ledger."""
    db = get_db()
    app = db.get(VendorApp, caller().app_id)
    try:
        row = deletions.confirm(db, app, subject=body["sub"], deleted_at=body["deleted_at"],
                                event_id=body.get("event_id"), grant_ref=body.get("grant"),
                                note=body.get("note"), now=clock.utcnow())
    except deletions.DeletionNotFound as exc:
        abort(problem(404, "Not Found", str(exc)))
    except (deletions.NothingToConfirm, deletions.InvalidConfirmation) as exc:
        abort(problem(409, "Conflict", str(exc)))
    event_public_id = body.get("event_id") or _event_public_id(db, row.event_id)
    return {"id": row.public_id, "sub": row.subject, "event_id": event_public_id,
            "deleted_at": row.deleted_at, "recorded_at": row.created_at}


def _event_public_id(db, event_id: int | None) -> str | None:
    return None if event_id is None else db.get(AppEvent, event_id).public_id
