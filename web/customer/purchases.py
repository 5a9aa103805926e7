"""The customer's purchases from every vendor in one history: add one from any shop, annotate any.

Thin views over :mod:`consent.purchases`; the page also says, per purchase, whether its vendor may
read the customer's notes right now (``purchases.context`` in a live grant), so nobody is surprised.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_currency
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from consent import policy, purchases
from consent.grants import list_for_customer
from vault.clock import utcnow
from vault.errors import ValidationFailed
from vendor_api.context import get_db, instance

from ..auth.roles import role_required
from .views import bp

ITEM_ROWS = 5

STATUS_LABELS = {"ordered": _l("Ordered"), "paid": _l("Paid"), "shipped": _l("Shipped"),
                 "delivered": _l("Delivered"), "returned": _l("Returned"), "refunded": _l("Refunded"),
                 "cancelled": _l("Cancelled")}
FLAG_LABELS = {"gift": _l("It was a gift"), "for_someone_else": _l("Bought for someone else"),
               "not_for_recommendations": _l("Do not use it for recommendations")}
REASON_LABELS = {"damaged": _l("Arrived damaged"), "wrong_item": _l("Wrong item"), "wrong_size": _l("Wrong size"),
                 "not_as_described": _l("Not as described"), "arrived_late": _l("Arrived too late"),
                 "changed_mind": _l("Changed my mind"), "other": _l("Another reason")}
#: The core's English sentences this page can show, so they reach the page translated.
MESSAGES = {
    "Add at least one item.": _l("Add at least one item."),
    "Name the item.": _l("Name the item."),
    "Name the shop.": _l("Name the shop."),
    "Enter an amount.": _l("Enter an amount."),
    "Enter an amount like 12.50 (a point, no currency sign, at most 4 decimals).":
        _l("Enter an amount like 12.50 (a point, no currency sign, at most 4 decimals)."),
    "A whole number from 1 to 100000.": _l("A whole number from 1 to 100000."),
    "Use an ISO 4217 currency code, like EUR, SAR or USD.": _l("Use an ISO 4217 currency code, like EUR, SAR or USD."),
    "Enter a date as year-month-day, like 2026-03-14.": _l("Enter a date as year-month-day, like 2026-03-14."),
    "The purchase date cannot be in the future or before 1970.":
        _l("The purchase date cannot be in the future or before 1970."),
    "Choose a reason from the list.": _l("Choose a reason from the list."),
    "From 1 to 5 stars.": _l("From 1 to 5 stars."),
    "Choose yes or no.": _l("Choose yes or no."),
}


def _labels() -> dict:
    return {"statuses": STATUS_LABELS, "flags": FLAG_LABELS, "reasons": REASON_LABELS, "money": _money}


def _money(amount: str, currency: str) -> str:
    try:
        return format_currency(Decimal(amount), currency)
    except (InvalidOperation, ValueError):
        return f"{amount} {currency}"


def _flatten(errors: dict, prefix: str = "") -> dict[str, list[str]]:
    """``{"items": {0: {"name": [...]}}}`` -> ``{"items-0-name": [...]}``, messages translated."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        name = f"{prefix}-{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = [str(MESSAGES.get(m, m)) for m in value]
    return flat


def _context_readers(customer_id: int) -> set[int]:
    """Apps that may read this customer's purchase notes right now (the policy decides)."""
    now = utcnow()
    return {g.app_id for g in list_for_customer(get_db(), customer_id)
            if "purchase_context" in policy.permitted_fields(g, "read", now=now)}


@bp.route("/purchases")
@role_required("customer")
def purchases_list():
    found = purchases.history(get_db(), instance().keys, current_user.id)
    return render_template("customer/purchases.html", purchases=found,
                           readers=_context_readers(current_user.id), **_labels())


def _order_from_form(form) -> dict:
    """The manual purchase form as the core expects it; the total is the items' sum."""
    items, total = [], Decimal(0)
    for i in range(ITEM_ROWS):
        name = (form.get(f"items-{i}-name") or "").strip()
        quantity = (form.get(f"items-{i}-quantity") or "").strip()
        price = (form.get(f"items-{i}-unit_price") or "").strip().replace(",", ".")
        if not (name or quantity or price):
            continue
        qty = int(quantity) if quantity.isdecimal() else (1 if not quantity else quantity)
        items.append({"name": name, "quantity": qty, "unit_price": price})
        if isinstance(qty, int) and purchases.AMOUNT.fullmatch(price):
            total += Decimal(price) * qty
    return {"merchant": form.get("merchant", ""), "date": (form.get("date") or "").strip(),
            "currency": form.get("currency", ""), "status": form.get("status") or "delivered",
            "items": items, "total": str(total)}


@bp.route("/purchases/new", methods=["GET", "POST"])
@role_required("customer")
def purchase_new():
    errors: dict = {}
    state = {"date": utcnow().date().isoformat(), "status": "delivered", "items-0-quantity": "1"}
    if request.method == "POST":
        state = request.form.to_dict()
        try:
            purchase = purchases.add_manual(get_db(), instance().keys, current_user, _order_from_form(request.form))
        except ValidationFailed as exc:
            errors = _flatten(exc.errors)
            if any(k.startswith("items") for k in errors):
                errors.pop("total", None)  # the total is ours: fix the items and it follows
        else:
            flash(_("Purchase added to your history."), "success")
            return redirect(url_for("customer.purchase_detail", public_id=purchase.public_id), 303)
    return render_template("customer/purchases_new.html", state=state, errors=errors, rows=range(ITEM_ROWS),
                           status_choices=list(STATUS_LABELS.items()), **_labels()), (422 if errors else 200)


def _context_from_form(form) -> dict:
    rating = form.get("rating", "")
    return {**{flag: form.get(flag) == "yes" for flag in purchases.CONTEXT_FLAGS},
            "return_reason": form.get("return_reason") or None,
            "rating": int(rating) if rating.isdecimal() else (rating or None)}


@bp.route("/purchases/<public_id>", methods=["GET", "POST"])
@role_required("customer")
def purchase_detail(public_id: str):
    db, keys = get_db(), instance().keys
    try:
        view = purchases.get_for_customer(db, keys, current_user.id, public_id)
    except purchases.PurchaseNotFound:
        abort(404)
    errors: dict = {}
    state = dict(view.context or {})
    if request.method == "POST":
        try:
            if request.form.get("action") == "remove":
                purchases.remove_manual(db, current_user, public_id)
                flash(_("Purchase removed from your history."), "success")
                return redirect(url_for("customer.purchases_list"), 303)
            purchases.annotate(db, keys, current_user, public_id, _context_from_form(request.form))
        except ValidationFailed as exc:
            errors = _flatten(exc.errors)
            state = _context_from_form(request.form)
        except purchases.PurchaseConflict:
            flash(_("Only purchases you added yourself can be removed."), "error")
            return redirect(url_for("customer.purchase_detail", public_id=public_id), 303)
        else:
            flash(_("Your notes are saved."), "success")
            return redirect(url_for("customer.purchase_detail", public_id=public_id), 303)
    shared = view.app_id is not None and view.app_id in _context_readers(current_user.id)
    return render_template("customer/purchases_detail.html", purchase=view, state=state, errors=errors,
                           shared=shared, **_labels()), (422 if errors else 200)
