"""Purchases in the customer's vault: written back by vendors, added by the customer, annotated.

A vendor holding ``purchases.write`` records its orders (its own order id, date, items, currency,
total, status) and moves them on (shipped, delivered, returned, refunded...); with
``purchases.read`` it reads back its own and never another vendor's -- every query is bound to
the app, so another app's order id is simply not found. The customer sees every vendor's
purchases in one history, may add purchases from shops that are not connected, and may annotate
any purchase (a gift, for someone else, not for recommendations, why it went back, a rating). A
vendor sees those annotations on its own purchases only, and only with ``purchases.context``.

Storage. Everything the customer bought is sealed with the customer's data key, like every vault
value (and shredded with it): the order (``body``) and the annotations (``context``) are each one
AES-GCM blob bound to the customer and the purchase. Only what queries need stays plain: the app,
the vendor's order id (unique per app and customer, and how the vendor addresses the order), the
status (vendors filter on it) and the row's own timestamps.

Every vendor read or write, and every change the customer makes, is a ledger entry naming
``purchases`` / ``purchase_context`` -- never a value. Services flush and never commit.
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from vault import crypto
from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime
from vault.errors import ValidationFailed
from vault.keys.service import KeyService
from vault.models import Account
from vault.records import data_key, ensure_data_key

from . import events, ledger
from .errors import ConsentError
from .models import Grant, VendorApp
from .policy import permitted_fields
from .vendor_access import VendorAccess

STATUSES = ("ordered", "paid", "shipped", "delivered", "returned", "refunded", "cancelled")
#: Where an order may go from each status. Cash on delivery ships before it is paid; a paid order
#: that is cancelled is then refunded; refunded is the end.
TRANSITIONS = {
    "ordered": {"paid", "shipped", "delivered", "cancelled"},
    "paid": {"shipped", "delivered", "cancelled", "refunded"},
    "shipped": {"delivered", "returned"},
    "delivered": {"returned", "refunded"},
    "returned": {"refunded"},
    "cancelled": {"refunded"},
    "refunded": set(),
}
RETURN_REASONS = ("damaged", "wrong_item", "wrong_size", "not_as_described", "arrived_late", "changed_mind",
                  "other")
CONTEXT_FLAGS = ("gift", "for_someone_else", "not_for_recommendations")
CONTEXT_KEYS = CONTEXT_FLAGS + ("return_reason", "rating")
#: ISO 4217 codes in use (cross-checked against CLDR in the tests).
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP
LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())
#: A vendor's order id: it travels in URL paths, so no slashes, spaces or anything to escape.
ORDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ORDER_ID_PATTERN = ORDER_ID.pattern
#: Money as a decimal string: up to 12 digits before the point and 4 after, never negative.
AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?")
AMOUNT_PATTERN = AMOUNT.pattern
#: A name on one line: no control characters, and something to read besides spaces.
NAME = re.compile(r"[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*")
NAME_PATTERN = NAME.pattern
MAX_ITEMS = 100
MAX_QUANTITY = 100_000
MAX_NAME = 200
MAX_SKU = 64
MAX_MERCHANT = 120
EARLIEST = date(1970, 1, 1)
PAGE = 50


class PurchaseConflict(ConsentError):
    """The change does not fit: the order id is taken, or the status cannot follow the current one."""


class PurchaseNotFound(ConsentError):
    """No such purchase for this customer or app (another app's order looks exactly like a missing one)."""


class Purchase(Base):
    __tablename__ = "purchases"
    __table_args__ = (UniqueConstraint("app_id", "account_id", "order_id"),
                      Index("ix_purchases_account", "account_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: The vendor that wrote it; null for a purchase the customer added (or once the app is gone:
    #: the customer keeps the history, the merchant's name is in the sealed body).
    app_id: Mapped[int | None] = mapped_column(ForeignKey("vendor_apps.id", ondelete="SET NULL"), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(8))  # vendor, customer
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    context: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    app: Mapped[VendorApp | None] = relationship(lazy="joined")


@dataclass(frozen=True)
class PurchaseView:
    """One purchase, opened: what the customer's page and the vendor's response are made of."""

    id: int
    public_id: str
    source: str
    app_id: int | None
    merchant: str
    order_id: str | None
    date: str
    items: list
    currency: str
    total: str
    shipping: str
    tax: str
    discount: str
    status: str
    created_at: datetime
    updated_at: datetime
    context: dict | None

    @property
    def annotated(self) -> bool:
        return self.context is not None


# -- validation ---------------------------------------------------------------------------------

def _amount(value, field: str, errors: dict, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            errors[field] = ["Enter an amount."]
        return None if required else "0"
    if not isinstance(value, str) or not AMOUNT.fullmatch(value):
        errors[field] = ["Enter an amount like 12.50 (a point, no currency sign, at most 4 decimals)."]
        return None
    return value


def _items(raw, errors: dict) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        errors["items"] = ["Add at least one item."]
        return []
    if len(raw) > MAX_ITEMS:
        errors["items"] = [f"At most {MAX_ITEMS} items."]
        return []
    clean, item_errors = [], {}
    for i, item in enumerate(raw):
        problems: dict = {}
        if not isinstance(item, dict):
            item_errors[i] = {"_schema": ["Each item needs a name, a quantity and a unit price."]}
            continue
        name = item.get("name")
        name = name.strip(" ") if isinstance(name, str) else ""
        if not NAME.fullmatch(name):
            problems["name"] = ["Name the item."]
        elif len(name) > MAX_NAME:
            problems["name"] = [f"At most {MAX_NAME} characters."]
        sku = item.get("sku")
        if sku is not None and (not isinstance(sku, str) or len(sku.strip()) > MAX_SKU):
            problems["sku"] = [f"At most {MAX_SKU} characters."]
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            problems["quantity"] = [f"A whole number from 1 to {MAX_QUANTITY}."]
        price = _amount(item.get("unit_price"), "unit_price", problems)
        if problems:
            item_errors[i] = problems
            continue
        clean.append({"name": name, "sku": (sku or "").strip() or None, "quantity": quantity, "unit_price": price})
    if item_errors:
        errors["items"] = item_errors
    return clean


def _date(value, errors: dict, latest: date | None) -> str | None:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            errors["date"] = ["Enter a date as year-month-day, like 2026-03-14."]
            return None
    if not isinstance(value, date):
        errors["date"] = ["Enter a date as year-month-day, like 2026-03-14."]
        return None
    if latest is not None and not EARLIEST <= value <= latest:
        errors["date"] = ["The purchase date cannot be in the future or before 1970."]
        return None
    return value.isoformat()


def clean_order(data: dict, *, latest: date | None = None) -> dict:
    """Check an order as a whole and return its normalised form, or raise ValidationFailed.

    ``total`` is what was charged, as the vendor's receipt says; ``shipping``, ``tax`` and
    ``discount`` are an optional breakdown. The total is not recomputed from the items: real
    receipts round tax per line, take gift cards and fees, and the vendor's figure is the record.
    Every rule here is one the API's published schema states, so a request the schema calls valid
    is never refused. ``latest`` (the portal passes tomorrow) also bounds the date to 1970..latest.
    """
    errors: dict = {}
    items = _items(data.get("items"), errors)
    currency = data.get("currency")
    currency = currency.strip().upper() if isinstance(currency, str) else ""
    if currency not in CURRENCIES:
        errors["currency"] = ["Use an ISO 4217 currency code, like EUR, SAR or USD."]
    extra = {k: _amount(data.get(k), k, errors, required=False) for k in ("shipping", "tax", "discount")}
    total = _amount(data.get("total"), "total", errors)
    day = _date(data.get("date"), errors, latest)
    status = data.get("status", "ordered")
    if status not in STATUSES:
        errors["status"] = [f"One of {', '.join(STATUSES)}."]
    if errors:
        raise ValidationFailed(errors)
    return {"date": day, "items": items, "currency": currency, "total": total, **extra, "status": status}


def items_total(items: list[dict]) -> Decimal:
    """Quantity times unit price, summed (what the portal shows as a manual purchase's total)."""
    return sum((Decimal(i["unit_price"]) * i["quantity"] for i in items), Decimal(0))


def clean_context(data: dict) -> dict | None:
    """The customer's annotations, normalised; None when there is nothing left to say."""
    errors: dict = {}
    clean: dict = {}
    for flag in CONTEXT_FLAGS:
        value = data.get(flag, False)
        if not isinstance(value, bool):
            errors[flag] = ["Choose yes or no."]
        clean[flag] = bool(value)
    reason = data.get("return_reason") or None
    if reason is not None and reason not in RETURN_REASONS:
        errors["return_reason"] = ["Choose a reason from the list."]
    clean["return_reason"] = reason
    rating = data.get("rating")
    if rating in ("", None):
        rating = None
    elif isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = ["From 1 to 5 stars."]
    clean["rating"] = rating
    if errors:
        raise ValidationFailed(errors)
    if not any(clean[f] for f in CONTEXT_FLAGS) and reason is None and rating is None:
        return None
    return clean


# -- sealing ------------------------------------------------------------------------------------

def _label(purchase: Purchase, part: str) -> str:
    return f"purchase:{purchase.public_id}:{part}"


def _seal(dek: bytes, purchase: Purchase, part: str, value: dict) -> bytes:
    return crypto.seal_field(dek, str(purchase.account_id), _label(purchase, part),
                             json.dumps(value, sort_keys=True).encode())  # ASCII: even a lone surrogate seals


def _open(dek: bytes, purchase: Purchase, part: str, blob: bytes) -> dict:
    return json.loads(crypto.open_field(dek, str(purchase.account_id), _label(purchase, part), blob))


def _view(dek: bytes, purchase: Purchase, *, with_context: bool = True) -> PurchaseView:
    body = _open(dek, purchase, "body", purchase.body)
    context = None
    if with_context and purchase.context is not None:
        context = _open(dek, purchase, "context", purchase.context)
    return PurchaseView(
        id=purchase.id, public_id=purchase.public_id, source=purchase.source, app_id=purchase.app_id,
        merchant=body["merchant"], order_id=purchase.order_id, date=body["date"], items=body["items"],
        currency=body["currency"], total=body["total"], shipping=body.get("shipping", "0"),
        tax=body.get("tax", "0"), discount=body.get("discount", "0"), status=purchase.status,
        created_at=as_utc(purchase.created_at), updated_at=as_utc(purchase.updated_at), context=context)


def _new(account_id: int, *, app: VendorApp | None, order_id: str | None, status: str, now: datetime) -> Purchase:
    return Purchase(public_id="p_" + secrets.token_urlsafe(12), account_id=account_id,
                    app_id=app.id if app else None, app=app, order_id=order_id,
                    source="vendor" if app else "customer", status=status, created_at=now, updated_at=now)


# -- vendor side --------------------------------------------------------------------------------

def _vendor_record(db: Session, who: VendorAccess, type: str, fields: list[str], now: datetime, **details) -> None:
    ledger.append(db, type=type, actor=who.client_id, actor_role="vendor", chain=who.chain,
                  vendor_app=who.client_id, scopes=who.scopes(), fields=fields, purpose=who.purpose, now=now,
                  details={"endpoint": "purchases", "grant": who.grant_public_id, **details})


def _check_order_id(order_id) -> str:
    if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id):
        raise ValidationFailed({"order_id": ["Letters, digits and . _ : - only, starting with a letter or digit; "
                                             "at most 64 characters."]})
    return order_id


def _own(db: Session, who: VendorAccess, order_id: str) -> Purchase:
    if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id):
        raise PurchaseNotFound("No such order for this customer.")
    purchase = db.scalar(select(Purchase).where(Purchase.app_id == who.app_id, Purchase.account_id == who.account_id,
                                                Purchase.order_id == order_id))
    if purchase is None:
        raise PurchaseNotFound("No such order for this customer.")
    return purchase


def _context_allowed(who: VendorAccess, now: datetime) -> bool:
    return "purchase_context" in who.fields("read", now)


def record(db: Session, keys: KeyService, who: VendorAccess, data: dict, *,
           now: datetime | None = None) -> PurchaseView:
    """The vendor records one order in the customer's vault (``purchases.write``)."""
    now = now or utcnow()
    who.require("purchases", "write", "purchases.write", now)
    order_id = _check_order_id(data.get("order_id"))
    order = clean_order(data)
    if db.scalar(select(Purchase.id).where(Purchase.app_id == who.app_id, Purchase.account_id == who.account_id,
                                           Purchase.order_id == order_id)) is not None:
        raise PurchaseConflict("This order id is already recorded for this customer: change it with PATCH.")
    customer = db.get(Account, who.account_id)
    app = db.get(VendorApp, who.app_id)
    dek = ensure_data_key(db, keys, customer)
    purchase = _new(customer.id, app=app, order_id=order_id, status=order.pop("status"), now=now)
    purchase.body = _seal(dek, purchase, "body", {"merchant": app.name, **order})
    try:
        with db.begin_nested():  # two concurrent writes of one order id: the second is a conflict, not a 500
            db.add(purchase)
            db.flush()
    except IntegrityError:
        raise PurchaseConflict("This order id is already recorded for this customer: change it with PATCH.") from None
    _vendor_record(db, who, "write", ["purchases"], now, action="create", purchase=purchase.public_id)
    return _view(dek, purchase, with_context=False)


def set_status(db: Session, keys: KeyService, who: VendorAccess, order_id: str, status: str, *,
               now: datetime | None = None) -> PurchaseView:
    """Move the vendor's own order on; the same status again changes nothing and is not an error."""
    now = now or utcnow()
    who.require("purchases", "write", "purchases.write", now)
    purchase = _own(db, who, order_id)
    if status not in STATUSES:
        raise ValidationFailed({"status": [f"One of {', '.join(STATUSES)}."]})
    if status != purchase.status:
        if status not in TRANSITIONS[purchase.status]:
            raise PurchaseConflict(f"An order that is {purchase.status} cannot become {status}.")
        purchase.status, purchase.updated_at = status, now
        db.flush()
        _vendor_record(db, who, "write", ["purchases"], now, action=f"status_{status}", purchase=purchase.public_id)
    return _view(data_key(db, keys, purchase.account_id), purchase, with_context=_context_allowed(who, now))


def for_vendor(db: Session, keys: KeyService, who: VendorAccess, *, after_id: int | None = None,
               limit: int = PAGE, status: str | None = None,
               now: datetime | None = None) -> tuple[list[PurchaseView], int | None]:
    """This app's purchases of this customer, oldest first, paged by id; annotations only with
    ``purchases.context``. Returns the page and the id to continue after (None at the end)."""
    now = now or utcnow()
    who.require("purchases", "read", "purchases.read", now)
    with_context = _context_allowed(who, now)
    stmt = select(Purchase).where(Purchase.app_id == who.app_id, Purchase.account_id == who.account_id)
    if status:
        stmt = stmt.where(Purchase.status == status)
    if after_id:
        stmt = stmt.where(Purchase.id > after_id)
    rows = db.scalars(stmt.order_by(Purchase.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    views = []
    if rows:
        dek = data_key(db, keys, who.account_id)
        views = [_view(dek, row, with_context=with_context) for row in rows]
    _vendor_record(db, who, "read", ["purchases"] + (["purchase_context"] if with_context else []), now,
                   action="list", count=len(views))
    return views, (rows[-1].id if more else None)


def one_for_vendor(db: Session, keys: KeyService, who: VendorAccess, order_id: str, *,
                   now: datetime | None = None) -> PurchaseView:
    now = now or utcnow()
    who.require("purchases", "read", "purchases.read", now)
    purchase = _own(db, who, order_id)
    with_context = _context_allowed(who, now)
    view = _view(data_key(db, keys, purchase.account_id), purchase, with_context=with_context)
    _vendor_record(db, who, "read", ["purchases"] + (["purchase_context"] if with_context else []), now,
                   action="read", purchase=purchase.public_id)
    return view


# -- customer side ------------------------------------------------------------------------------

def _customer_record(db: Session, customer: Account, purchase: Purchase, field: str, action: str,
                     now: datetime) -> None:
    ledger.append(db, type="write", actor=customer.public_id, actor_role="customer", chain=customer.public_id,
                  vendor_app=purchase.app.client_id if purchase.app else None, fields=[field], now=now,
                  details={"purchase": purchase.public_id, "action": action})


def add_manual(db: Session, keys: KeyService, customer: Account, data: dict, *,
               now: datetime | None = None) -> Purchase:
    """The customer records a purchase from a shop that is not connected (free-text merchant)."""
    now = now or utcnow()
    errors: dict = {}
    merchant = data.get("merchant")
    merchant = merchant.strip(" ") if isinstance(merchant, str) else ""
    if not NAME.fullmatch(merchant):
        errors["merchant"] = ["Name the shop."]
    elif len(merchant) > MAX_MERCHANT:
        errors["merchant"] = [f"At most {MAX_MERCHANT} characters."]
    try:
        order = clean_order({"status": "delivered", **data}, latest=as_utc(now).date() + timedelta(days=1))
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    dek = ensure_data_key(db, keys, customer)
    purchase = _new(customer.id, app=None, order_id=None, status=order.pop("status"), now=now)
    purchase.body = _seal(dek, purchase, "body", {"merchant": merchant, **order})
    db.add(purchase)
    db.flush()
    _customer_record(db, customer, purchase, "purchases", "add", now)
    return purchase


def history(db: Session, keys: KeyService, customer_id: int) -> list[PurchaseView]:
    """Every purchase in the customer's vault, from every vendor and their own, newest first."""
    rows = db.scalars(select(Purchase).where(Purchase.account_id == customer_id)).all()
    if not rows:
        return []
    dek = data_key(db, keys, customer_id)
    views = [_view(dek, row) for row in rows]
    return sorted(views, key=lambda v: (v.date, v.created_at, v.id), reverse=True)


def _customers(db: Session, customer_id: int, public_id: str) -> Purchase:
    purchase = db.scalar(select(Purchase).where(Purchase.public_id == public_id,
                                                Purchase.account_id == customer_id))
    if purchase is None:
        raise PurchaseNotFound("No such purchase.")
    return purchase


def get_for_customer(db: Session, keys: KeyService, customer_id: int, public_id: str) -> PurchaseView:
    purchase = _customers(db, customer_id, public_id)
    return _view(data_key(db, keys, customer_id), purchase)


def annotate(db: Session, keys: KeyService, customer: Account, public_id: str, data: dict, *,
             now: datetime | None = None) -> PurchaseView:
    """Set (or clear) the customer's annotations on one of their purchases.

    The vendor that wrote the purchase hears ``purchase.context_updated`` (its order id and the
    names of the annotations now set, never their values) only when the customer lets it read
    purchase context right now.
    """
    now = now or utcnow()
    purchase = _customers(db, customer.id, public_id)
    context = clean_context(data)
    dek = ensure_data_key(db, keys, customer)
    purchase.context = None if context is None else _seal(dek, purchase, "context", {**context,
                                                                                     "updated_at": now.isoformat()})
    purchase.updated_at = now
    db.flush()
    _customer_record(db, customer, purchase, "purchase_context", "annotate", now)
    if purchase.app_id is not None:
        grant = db.scalar(select(Grant).where(Grant.account_id == customer.id, Grant.app_id == purchase.app_id))
        if grant is not None and "purchase_context" in permitted_fields(grant, "read", now=now):
            names = [] if context is None else [k for k in CONTEXT_KEYS if context[k] not in (False, None)]
            events.emit(db, type="purchase.context_updated", app_id=purchase.app_id, account_id=customer.id,
                        data={"order_id": purchase.order_id, "fields": names}, now=now, grant=grant)
    return _view(dek, purchase)


def remove_manual(db: Session, customer: Account, public_id: str, *, now: datetime | None = None) -> None:
    """The customer deletes a purchase they added; a vendor's record stays (it is shared history)."""
    now = now or utcnow()
    purchase = _customers(db, customer.id, public_id)
    if purchase.source != "customer":
        raise PurchaseConflict("Only purchases you added yourself can be removed.")
    _customer_record(db, customer, purchase, "purchases", "remove", now)
    db.delete(purchase)
    db.flush()
