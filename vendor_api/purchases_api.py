"""Purchases written back to, and read from, one customer's vault (a token the customer authorized).

``POST`` records an order (``purchases.write``), ``PATCH`` moves its status on, ``GET`` reads
back this app's own orders (``purchases.read``) with the customer's annotations in ``context``
only when the token also carries ``purchases.context``. Another app's order id is a 404 exactly
like one that does not exist. The policy decides every call (:mod:`consent.purchases`); a missing
scope is a 403 ``insufficient_scope`` problem naming the scope.
"""
from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from consent import purchases
from consent.vendor_access import ScopeMissing, VendorAccess
from vault import clock
from vault.errors import ValidationFailed

from .documenting import error_documenter, no_store
from .context import get_db, instance
from .acting import acting, refuse_scope
from .problems import abort_invalid, problem
from .protector import CUSTOMER, require_oauth

blp = Blueprint("vendor_api_purchases", __name__, url_prefix="/api/v1/me/purchases",
                description="Orders your app records in the customer's vault, and reads back (purchases.*).")

_ERRORS = {400: "The body is not well-formed JSON.",
           401: "Missing, unknown, expired or revoked token, or consent ended (see WWW-Authenticate).",
           403: "The customer's consent does not cover this (insufficient_scope; the needed scope is named).",
           404: "No such order of your app for this customer.",
           409: "The order id is already recorded, or the status cannot follow the current one.",
           422: "The request is not valid (`errors` says where).",
           429: "Too many requests from your client: wait for Retry-After seconds."}


blp.after_request(no_store)
_document = error_documenter(blp, _ERRORS)


# --- schemas -----------------------------------------------------------------------------------

class _Whole(validate.Regexp):
    """The published ``^...$`` pattern matched against the whole value (``Regexp`` uses ``re.match``,
    whose ``$`` would also let a trailing newline through to the service)."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class _Line(fields.String):
    """A one-line string. Clients reading our pattern with Python's ``$`` semantics may end it with
    one newline the pattern allows; it is dropped, so what the schema accepts the service accepts."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        return value[:-1] if value.endswith("\n") else value


_AMOUNT = {"example": "12.50"}


def _amount(metadata: dict | None = None, **kwargs):
    return _Line(validate=_Whole(f"^{purchases.AMOUNT_PATTERN}$"),
                         metadata={"description": "A decimal string: digits, optionally a point and up "
                                                  "to 4 decimals (no sign, no currency).", **_AMOUNT,
                                   **(metadata or {})}, **kwargs)


class PurchaseItemIn(Schema):
    name = _Line(required=True, validate=[validate.Length(min=1, max=purchases.MAX_NAME),
                                          _Whole(f"^{purchases.NAME_PATTERN}$", error="One line, not only spaces.")])
    sku = fields.String(allow_none=True, validate=validate.Length(max=purchases.MAX_SKU))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=purchases.MAX_QUANTITY))
    unit_price = _amount(required=True)


class PurchaseIn(Schema):
    order_id = _Line(required=True, validate=_Whole(f"^{purchases.ORDER_ID_PATTERN}$"),
                             metadata={"description": "Your order id: unique per customer; letters, digits "
                                                      "and . _ : - (at most 64).", "example": "ORD-2026-0042"})
    date = fields.Date(required=True, metadata={"description": "The day of the order."})
    items = fields.List(fields.Nested(PurchaseItemIn), required=True,
                        validate=validate.Length(min=1, max=purchases.MAX_ITEMS))
    currency = fields.String(required=True, validate=validate.OneOf(sorted(purchases.CURRENCIES)),
                             metadata={"description": "ISO 4217 code.", "example": "EUR"})
    total = _amount(required=True, metadata={"description": "What the customer was charged, as on your receipt."})
    shipping = _amount(metadata={"description": "Optional breakdown of the total (default 0)."})
    tax = _amount(metadata={"description": "Optional breakdown of the total (default 0)."})
    discount = _amount(metadata={"description": "Optional breakdown of the total (default 0)."})
    status = fields.String(load_default="ordered", validate=validate.OneOf(purchases.STATUSES))


class PurchaseStatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(purchases.STATUSES))


class PurchaseQuery(Schema):
    status = fields.String(validate=validate.OneOf(purchases.STATUSES))
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{1,9}$"),
                           metadata={"description": "From the previous page's next_cursor."})
    limit = fields.Integer(load_default=purchases.PAGE, validate=validate.Range(min=1, max=200))


class PurchaseItemOut(Schema):
    name = fields.String(required=True)
    sku = fields.String(allow_none=True)
    quantity = fields.Integer(required=True)
    unit_price = fields.String(required=True)


class PurchaseContextOut(Schema):
    gift = fields.Boolean(required=True)
    for_someone_else = fields.Boolean(required=True)
    not_for_recommendations = fields.Boolean(required=True,
                                             metadata={"description": "Leave it out of recommendations."})
    return_reason = fields.String(allow_none=True, metadata={"enum": list(purchases.RETURN_REASONS)})
    rating = fields.Integer(allow_none=True, metadata={"description": "1-5"})
    updated_at = fields.String(required=True)


class PurchaseOut(Schema):
    class Meta:
        ordered = True

    order_id = fields.String(required=True)
    date = fields.String(required=True, metadata={"format": "date"})
    items = fields.List(fields.Nested(PurchaseItemOut), required=True)
    currency = fields.String(required=True)
    total = fields.String(required=True)
    shipping = fields.String(required=True)
    tax = fields.String(required=True)
    discount = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    context = fields.Nested(PurchaseContextOut, allow_none=True, metadata={
        "description": "The customer's notes on this purchase: present only when your token carries "
                       "purchases.context; null when the customer wrote none."})


class PurchasePage(Schema):
    purchases = fields.List(fields.Nested(PurchaseOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Pass as `cursor` for the next page; null at the end."})


def _out(view: purchases.PurchaseView, *, with_context: bool) -> dict:
    out = {name: getattr(view, name) for name in ("order_id", "date", "items", "currency", "total", "shipping",
                                                  "tax", "discount", "status", "created_at", "updated_at")}
    if with_context:
        out["context"] = view.context
    return out


def _context_allowed(who: VendorAccess) -> bool:
    return "purchase_context" in who.fields("read", clock.utcnow())


# --- views -------------------------------------------------------------------------------------

@blp.route("", methods=["POST"])
@blp.doc(security=[{"oauth2": ["purchases.write"]}])
@_document(400, 401, 403, 409, 422, 429)
@blp.arguments(PurchaseIn)
@blp.response(201, PurchaseOut)
@require_oauth(CUSTOMER)
def create(body):
    """Record an order in the customer's vault (needs purchases.write).

    `total` is what was charged; `shipping`, `tax` and `discount` optionally break it down.
    The order id may be recorded once per customer; change its status with PATCH.
    """
    who = acting()
    body["date"] = body["date"].isoformat()
    try:
        view = purchases.record(get_db(), instance().keys, who, body, now=clock.utcnow())
    except ScopeMissing as exc:
        refuse_scope(exc)
    except ValidationFailed as exc:
        abort_invalid(exc.errors)
    except purchases.PurchaseConflict as exc:
        abort(problem(409, "Conflict", str(exc)))
    return _out(view, with_context=False)


@blp.route("")
@blp.doc(security=[{"oauth2": ["purchases.read"]}])
@_document(401, 403, 422, 429)
@blp.arguments(PurchaseQuery, location="query")
@blp.response(200, PurchasePage)
@require_oauth(CUSTOMER)
def list_purchases(query):
    """Your app's orders in this customer's vault, oldest first (needs purchases.read).

    Orders other apps recorded, and purchases the customer added, are never listed.
    """
    who = acting()
    try:
        views, after = purchases.for_vendor(get_db(), instance().keys, who, limit=query["limit"],
                                            after_id=int(query["cursor"]) if query.get("cursor") else None,
                                            status=query.get("status"), now=clock.utcnow())
    except ScopeMissing as exc:
        refuse_scope(exc)
    with_context = _context_allowed(who)
    return {"purchases": [_out(v, with_context=with_context) for v in views],
            "next_cursor": str(after) if after else None}


@blp.route("/<order_id>")
@blp.doc(security=[{"oauth2": ["purchases.read"]}])
@_document(401, 403, 404, 429)
@blp.response(200, PurchaseOut)
@require_oauth(CUSTOMER)
def get_purchase(order_id):
    """One of your app's orders by your order id (needs purchases.read)."""
    who = acting()
    try:
        view = purchases.one_for_vendor(get_db(), instance().keys, who, order_id, now=clock.utcnow())
    except ScopeMissing as exc:
        refuse_scope(exc)
    except purchases.PurchaseNotFound:
        abort(problem(404, "Not Found", "No such order of your app for this customer."))
    return _out(view, with_context=_context_allowed(who))


@blp.route("/<order_id>", methods=["PATCH"])
@blp.doc(security=[{"oauth2": ["purchases.write"]}])
@_document(400, 401, 403, 404, 409, 422, 429)
@blp.arguments(PurchaseStatusIn)
@blp.response(200, PurchaseOut)
@require_oauth(CUSTOMER)
def update_status(body, order_id):
    """Move your order on (needs purchases.write).

    From ordered: paid, shipped, delivered, cancelled. From paid: shipped, delivered, cancelled,
    refunded. From shipped: delivered, returned. From delivered: returned, refunded. From returned
    or cancelled: refunded. Refunded is final. Sending the current status again changes nothing.
    """
    who = acting()
    try:
        view = purchases.set_status(get_db(), instance().keys, who, order_id, body["status"], now=clock.utcnow())
    except ScopeMissing as exc:
        refuse_scope(exc)
    except purchases.PurchaseNotFound:
        abort(problem(404, "Not Found", "No such order of your app for this customer."))
    except ValidationFailed as exc:
        abort_invalid(exc.errors)
    except purchases.PurchaseConflict as exc:
        abort(problem(409, "Conflict", str(exc)))
    return _out(view, with_context=_context_allowed(who))
