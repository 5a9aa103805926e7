"""Contact permission: may your app contact this customer on a channel now, and why not.

``GET /me/contact-permission?channel=sms`` answers from the customer's own rules (channels they
accept, quiet hours in their time zone, contacts a week) and the contacts your app reported with
``POST /me/contacts``. A token whose consent lacks ``preferences.communication`` gets a "no" with
reason ``scope_missing`` (asking is harmless); reporting a contact needs that consent (403).
The rules and their order are in :mod:`consent.contact`.
"""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from consent import contact
from consent.vendor_access import ScopeMissing
from vault import clock
from vault.errors import ValidationFailed
from vault.schemas import CHANNELS

from .documenting import error_documenter, no_store
from .context import get_db, instance
from .acting import acting, refuse_scope
from .problems import abort_invalid
from .protector import CUSTOMER, require_oauth
from .schemas import Instant

blp = Blueprint("vendor_api_contact", __name__, url_prefix="/api/v1/me",
                description="Whether the customer may be contacted now, and the contacts your app made.")

_ERRORS = {400: "The body is not well-formed JSON.",
           401: "Missing, unknown, expired or revoked token, or consent ended (see WWW-Authenticate).",
           403: "The customer's consent lacks preferences.communication (insufficient_scope).",
           422: "The request is not valid (`errors` says where).",
           429: "Too many requests from your client: wait for Retry-After seconds."}


blp.after_request(no_store)
_document = error_documenter(blp, _ERRORS)


class ContactPermissionQuery(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))


class ContactReasonOut(Schema):
    code = fields.String(required=True, metadata={"enum": list(contact.REASONS)})
    message = fields.String(required=True)


class ContactPermissionOut(Schema):
    class Meta:
        ordered = True

    channel = fields.String(required=True)
    allowed = fields.Boolean(required=True)
    reason = fields.Nested(ContactReasonOut, allow_none=True, required=True,
                           metadata={"description": "Why not (the first rule that says no); null when allowed."})
    until = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When the answer may change: the end of quiet hours, or when the weekly count "
                       "drops below the cap; null otherwise."})


class ContactIn(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    at = Instant(metadata={"description": "When you contacted the customer (default: now; a "
                                                       "time ahead of ours is taken as now)."})


class ContactOut(Schema):
    class Meta:
        ordered = True

    channel = fields.String(required=True)
    at = fields.DateTime(required=True)
    contacts_last_7_days = fields.Integer(required=True, metadata={
        "description": "Your app's reported contacts with this customer in the last 7 days, this one included."})


@blp.route("/contact-permission")
@blp.doc(security=[{"oauth2": ["preferences.communication"]}])
@_document(401, 422, 429)
@blp.arguments(ContactPermissionQuery, location="query")
@blp.response(200, ContactPermissionOut)
@require_oauth(CUSTOMER)
def permission(query):
    """May you contact this customer on `channel` right now?

    Reasons, checked in this order: `scope_missing` (no preferences.communication consent),
    `channel_not_allowed`, `quiet_hours` (in the customer's time zone; `until` is their end),
    `weekly_cap_reached` (your reported contacts in the last 7 days; `until` is when one drops out).
    """
    try:
        answer = contact.permission(get_db(), instance().keys, acting(), query["channel"],
                                    now=clock.utcnow())
    except ValidationFailed as exc:
        abort_invalid(exc.errors)
    return {"channel": answer.channel, "allowed": answer.allowed,
            "reason": {"code": answer.reason, "message": answer.message} if answer.reason else None,
            "until": answer.until}


@blp.route("/contacts", methods=["POST"])
@blp.doc(security=[{"oauth2": ["preferences.communication"]}])
@_document(400, 401, 403, 422, 429)
@blp.arguments(ContactIn)
@blp.response(201, ContactOut)
@require_oauth(CUSTOMER)
def report_contact(body):
    """Report a contact you made, so the customer's weekly cap counts it."""
    try:
        row, count = contact.record_contact(get_db(), acting(), body["channel"], body.get("at"),
                                            now=clock.utcnow())
    except ScopeMissing as exc:
        refuse_scope(exc)
    except ValidationFailed as exc:
        abort_invalid(exc.errors)
    return {"channel": row.channel, "at": row.at, "contacts_last_7_days": count}
