"""Intent-casting: a customer's personal request for proposals, and the vendors' offers on it.

The customer publishes an intent (what they want, a budget, by when) to every app that holds
``intents.read`` or to vendors they choose; vendors answer with offers; the customer compares
them, accepts one (and then shares, through the consent screen, only what that vendor needs to
fulfil it), declines, or withdraws. The relationship starts on the customer's side.

Why vendors see a pseudonym and nothing else. A vendor reads the intent's own fields (category,
title, description, budget, dates, city/country) under a ``requester`` id derived per intent
*and* per app (HMAC under the instance's pairwise secret): two intents of one customer cannot be
linked, two vendors cannot join on it, and it never leads to the account. Identity reaches a
vendor only through a grant the customer makes after accepting.

"Holding" ``intents.read`` / ``offers.write`` means the app *declares* the scope in its
registration (``VendorApp.requested_scopes``), because no customer has granted anything yet when
intents are cast: the declaration is what the customer's "every app holding intents.read" refers
to, and it is shown on every consent screen. Vendor calls use client-credentials tokens.
An app may narrow what it sees to some categories (:func:`set_app_categories`); an app that
chose none sees every category. Intents addressed to chosen vendors reach those apps whatever
their categories.

Storage: the free text (title, description, city) of an intent and of an offer (description,
terms) is sealed with the customer's own data key, like every vault value, bound to the row's
public id; erasing the account shreds it. Offers live in the customer's vault ("offers.write:
place offers in your vault"). Every publish, first vendor look, offer, acceptance, decline,
withdrawal and expiry is a ledger entry on the customer's chain; closing tells every bidder by an
``intent.closed`` event (``accepted`` true only for the chosen bidder).

Services add and flush; the caller commits.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from sqlalchemy import (Date, ForeignKey, Index, Integer, LargeBinary, String, Text, and_, exists, func, or_,
                        select)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from vault import crypto
from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime, unit_of_work
from vault.errors import ValidationFailed
from vault.keys.service import KeyService
from vault.models import Account
from vault.records import data_key, ensure_data_key
from vault.schemas import COUNTRY_CODES, UnprintableText, printable

from . import events, ledger
from .errors import ConsentError
from .models import Grant, VendorApp
from .notifications import notify
from .purchases import CURRENCIES
from .scopes import LANGUAGES, SCOPES

READ_SCOPE = "intents.read"
OFFER_SCOPE = "offers.write"
VISIBILITIES = ("all", "chosen")
#: open -> accepted (one offer chosen) | declined (closed, none chosen) | withdrawn | expired
STATUSES = ("open", "accepted", "declined", "withdrawn", "expired")
#: open -> accepted | declined (this one turned down) | closed (the intent closed otherwise)
OFFER_STATUSES = ("open", "accepted", "declined", "closed")
EXPIRY_DAYS = (1, 3, 7, 14, 30, 60, 90)
DEFAULT_EXPIRY_DAYS = 14
MAX_EXPIRY = timedelta(days=90)
MAX_OFFER_VALIDITY = timedelta(days=365)
MAX_OFFERS_PER_APP = 3
MAX_AUDIENCE = 20
MAX_TITLE, MAX_TEXT, MAX_CITY = 120, 2000, 80
PAGE = 50
_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_STATE = re.compile(r"[\x21-\x7e]{1,200}")


# -- the category catalogue -----------------------------------------------------------------------

@dataclass(frozen=True)
class Category:
    id: str
    labels: Mapping[str, str]

    def label(self, lang: str = "en") -> str:
        return self.labels.get(lang) or self.labels["en"]


def _category(id: str, en: str, ar: str) -> Category:
    return Category(id, MappingProxyType({"en": en, "ar": ar}))


_CATALOGUE = (
    _category("electronics", "Electronics and computers", "الإلكترونيات والحواسيب"),
    _category("home_appliances", "Home appliances", "الأجهزة المنزلية"),
    _category("furniture", "Furniture and furnishings", "الأثاث والمفروشات"),
    _category("fashion", "Clothing and shoes", "الملابس والأحذية"),
    _category("books_media", "Books, music and films", "الكتب والموسيقى والأفلام"),
    _category("travel", "Travel and holidays", "السفر والعطلات"),
    _category("cars", "Cars and motoring", "السيارات ومستلزماتها"),
    _category("home_services", "Home services and repairs", "خدمات المنزل والإصلاحات"),
    _category("insurance_finance", "Insurance and finance", "التأمين والخدمات المالية"),
    _category("telecoms", "Phone and internet plans", "باقات الهاتف والإنترنت"),
    _category("food_groceries", "Food and groceries", "الطعام والبقالة"),
    _category("health_beauty", "Health and beauty", "الصحة والجمال"),
    _category("other", "Something else", "شيء آخر"),
)
CATEGORIES: Mapping[str, Category] = MappingProxyType({c.id: c for c in _CATALOGUE})


def _check_catalogue() -> None:
    for category in _CATALOGUE:
        if not re.fullmatch(r"[a-z][a-z_]*", category.id) or any(
                not category.labels.get(lang, "").strip() for lang in LANGUAGES):
            raise RuntimeError(f"Intent category {category.id!r} is invalid or lacks a translation.")


_check_catalogue()


# -- errors ---------------------------------------------------------------------------------------

class IntentNotFound(ConsentError):
    """No such intent or offer for this customer or app (another's looks exactly like a missing one)."""


class IntentConflict(ConsentError):
    """The action does not fit the intent's or offer's state (closed, expired, offer lapsed)."""


class ScopeNotHeld(ConsentError):
    """The app has not declared the scope this action needs (``scope`` names it)."""

    def __init__(self, scope: str):
        super().__init__(f"Your app must declare the {scope} scope in its registration to do this.")
        self.scope = scope


# -- tables ---------------------------------------------------------------------------------------

class Intent(Base):
    __tablename__ = "intents"
    __table_args__ = (Index("ix_intents_account", "account_id", "created_at"),
                      Index("ix_intents_open", "status", "category", "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True,
                                           default=lambda: "int_" + secrets.token_urlsafe(12))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    #: Sealed JSON {"title", "description", "city"} under the customer's data key.
    content: Mapped[bytes] = mapped_column(LargeBinary)
    budget_min: Mapped[str | None] = mapped_column(String(20), nullable=True)
    budget_max: Mapped[str | None] = mapped_column(String(20), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    needed_by: Mapped[date | None] = mapped_column(Date, nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    visibility: Mapped[str] = mapped_column(String(8), default="all")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The accepted offer's row id (no foreign key: offers refer to intents, not the reverse).
    accepted_offer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def current_status(self, now: datetime) -> str:
        """The status as of ``now``: an open intent past its expiry is expired even before the
        worker has recorded it."""
        if self.status == "open" and as_utc(self.expires_at) <= now:
            return "expired"
        return self.status


class IntentAudience(Base):
    """The vendor apps an intent with visibility "chosen" is addressed to."""

    __tablename__ = "intent_audience"

    intent_id: Mapped[int] = mapped_column(ForeignKey("intents.id", ondelete="CASCADE"), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True,
                                        index=True)


class IntentView(Base):
    """The first time an app saw an intent (one ledger read entry per app and intent, not per poll)."""

    __tablename__ = "intent_views"

    intent_id: Mapped[int] = mapped_column(ForeignKey("intents.id", ondelete="CASCADE"), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppIntentCategory(Base):
    """Categories an app wants to see intents in (none chosen: every category)."""

    __tablename__ = "app_intent_categories"

    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)


class IntentOffer(Base):
    __tablename__ = "intent_offers"
    __table_args__ = (Index("ix_intent_offers_intent_app", "intent_id", "app_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True,
                                           default=lambda: "off_" + secrets.token_urlsafe(12))
    intent_id: Mapped[int] = mapped_column(ForeignKey("intents.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), index=True)
    price: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Sealed JSON {"description", "terms"} under the customer's data key.
    content: Mapped[bytes] = mapped_column(LargeBinary)
    #: Read scopes the vendor needs to fulfil the offer (asked on the consent screen on accepting).
    scopes_json: Mapped[str] = mapped_column(Text, default="[]")
    #: Where the consent screen answers, with the vendor's PKCE challenge and state: the vendor
    #: keeps the verifier, so only it can redeem the code. All null: no authorization request.
    redirect_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    app: Mapped[VendorApp] = relationship(lazy="joined")

    @property
    def scopes(self) -> list[str]:
        return json.loads(self.scopes_json)

    def lapsed(self, now: datetime) -> bool:
        return as_utc(self.valid_until) <= now


@dataclass(frozen=True)
class IntentText:
    title: str
    description: str
    city: str | None


@dataclass(frozen=True)
class OfferText:
    description: str
    terms: str | None


@dataclass(frozen=True)
class OfferRow:
    """One offer as the customer compares it, unsealed."""

    offer: IntentOffer
    text: OfferText


# -- sealing --------------------------------------------------------------------------------------

def _seal(dek: bytes, account_id: int, label: str, value: dict) -> bytes:
    return crypto.seal_field(dek, str(account_id), label, json.dumps(value, sort_keys=True).encode())


def _open(dek: bytes, account_id: int, label: str, blob: bytes) -> dict:
    return json.loads(crypto.open_field(dek, str(account_id), label, blob))


def intent_text(db: Session, keys: KeyService, intent: Intent, *, dek: bytes | None = None) -> IntentText:
    data = _open(dek or data_key(db, keys, intent.account_id), intent.account_id,
                 f"intent:{intent.public_id}", intent.content)
    return IntentText(data["title"], data["description"], data.get("city"))


def offer_text(db: Session, keys: KeyService, intent: Intent, offer: IntentOffer, *,
               dek: bytes | None = None) -> OfferText:
    data = _open(dek or data_key(db, keys, intent.account_id), intent.account_id,
                 f"offer:{offer.public_id}", offer.content)
    return OfferText(data["description"], data.get("terms"))


def requester(secret: bytes, intent: Intent, client_id: str) -> str:
    """The customer's id for this one intent at this one app: unlinkable across intents and apps."""
    mac = hmac.new(secret, f"intent|{intent.public_id}|{client_id}".encode(), hashlib.sha256).digest()
    return "req_" + base64.b32encode(mac[:15]).decode().lower()


# -- validation helpers ---------------------------------------------------------------------------

def _text(value, field: str, limit: int, errors: dict, *, required: bool = True,
          multiline: bool = False) -> str | None:
    """Stripped text of at most ``limit`` characters, printable as :func:`vault.schemas.printable`
    defines it (line feeds and tabs only where ``multiline``)."""
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if value is None:
        errors[field] = ["Enter this as text."]
        return None
    try:
        value = printable(value, multiline=multiline)
    except UnprintableText as exc:
        errors[field] = [str(exc)]
        return None
    if not value:
        if required:
            errors[field] = ["Please fill this in."]
        return None
    elif len(value) > limit:
        errors[field] = [f"Use {limit} characters or fewer."]
    return value or None


def _amount(value, field: str, errors: dict) -> Decimal | None:
    """A money amount: up to 10 digits and 2 decimals, given as text (never a float)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    if not _AMOUNT.fullmatch(text):
        errors[field] = ["Enter an amount like 250 or 249.99."]
        return None
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:  # pragma: no cover - the pattern already rules it out
        errors[field] = ["Enter an amount like 250 or 249.99."]
        return None


def _code(value, field: str, codes: frozenset[str], message: str, errors: dict) -> str | None:
    """An ISO code from ``codes`` (:data:`consent.purchases.CURRENCIES`, :data:`vault.schemas.COUNTRY_CODES`),
    upper-cased; a made-up one ("ZZZ", "XK") is refused, not passed on to vendors."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip().upper() if isinstance(value, str) else ""
    if text not in codes:
        errors[field] = [message]
        return None
    return text


def _utc(value, field: str, errors: dict) -> datetime | None:
    if not isinstance(value, datetime):
        errors[field] = ["Enter a date and time."]
        return None
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        errors[field] = ["Enter a date and time."]
        return None


def _requested(app: VendorApp) -> set[str]:
    return set(app.requested_scopes)


def holds(app: VendorApp, scope: str) -> bool:
    """Whether the app declares ``scope`` (see the module docstring) and is active."""
    return bool(app.is_active) and scope in _requested(app)


def require(app: VendorApp, scope: str) -> None:
    if not holds(app, scope):
        raise ScopeNotHeld(scope)


def eligible_apps(db: Session) -> list[VendorApp]:
    """Active apps that declare ``intents.read``: the ones a customer may address an intent to."""
    candidates = db.scalars(select(VendorApp).where(VendorApp.is_active.is_(True),
                                                    VendorApp.requested_scopes_json.like(f'%"{READ_SCOPE}"%'))
                            .order_by(VendorApp.name, VendorApp.id))
    return [app for app in candidates if holds(app, READ_SCOPE)]


def _record(db: Session, customer: Account, intent: Intent, type: str, action: str, *, actor: str,
            actor_role: str, now: datetime, vendor_app: str | None = None, offer: IntentOffer | None = None,
            fields: Iterable[str] = ("intents",)) -> None:
    details = {"intent": intent.public_id, "action": action}
    if offer is not None:
        details["offer"] = offer.public_id
    ledger.append(db, type=type, actor=actor, actor_role=actor_role, chain=customer.public_id,
                  vendor_app=vendor_app, fields=list(fields), now=now, details=details)


# -- the customer's side --------------------------------------------------------------------------

def publish(db: Session, keys: KeyService, customer: Account, *, category: str, title: str, description: str,
            budget_min=None, budget_max=None, currency: str | None = None, needed_by: date | None = None,
            city: str | None = None, country: str | None = None, expires_in_days: int = DEFAULT_EXPIRY_DAYS,
            visibility: str = "all", audience: Iterable[str] = (), now: datetime | None = None) -> Intent:
    """Publish an intent. ``audience`` lists client ids of eligible apps when ``visibility`` is
    "chosen". Raises :class:`ValidationFailed` naming every field at fault."""
    now = now or utcnow()
    errors: dict = {}
    if category not in CATEGORIES:
        errors["category"] = ["Choose a category."]
    title = _text(title, "title", MAX_TITLE, errors)
    description = _text(description, "description", MAX_TEXT, errors, multiline=True)
    city = _text(city, "city", MAX_CITY, errors, required=False)
    low, high = _amount(budget_min, "budget_min", errors), _amount(budget_max, "budget_max", errors)
    if low is not None and high is not None and low > high:
        errors["budget_max"] = ["The highest budget must not be below the lowest."]
    currency = _code(currency, "currency", CURRENCIES, "Enter a three-letter currency code, like EUR or SAR.", errors)
    if (low is not None or high is not None) and currency is None and "currency" not in errors:
        errors["currency"] = ["Say which currency the budget is in."]
    country = _code(country, "country", COUNTRY_CODES, "Enter the two-letter country code, like GB, FR or US.", errors)
    if needed_by is not None and (not isinstance(needed_by, date) or needed_by < now.date()
                                  or needed_by > now.date() + timedelta(days=3 * 365)):
        errors["needed_by"] = ["Choose a date from today on, within three years."]
    if expires_in_days not in EXPIRY_DAYS:
        errors["expires_in_days"] = ["Choose how long the request stays open."]
    chosen: list[VendorApp] = []
    if visibility not in VISIBILITIES:
        errors["visibility"] = ["Choose who may see the request."]
    elif visibility == "chosen":
        wanted = list(dict.fromkeys(audience))
        by_client = {app.client_id: app for app in eligible_apps(db)}
        chosen = [by_client[c] for c in wanted if c in by_client]
        if not chosen or len(chosen) != len(wanted):
            errors["audience"] = ["Choose at least one vendor from the list."]
        elif len(chosen) > MAX_AUDIENCE:
            errors["audience"] = [f"Choose at most {MAX_AUDIENCE} vendors."]
    if errors:
        raise ValidationFailed(errors)
    intent = Intent(account_id=customer.id, category=category, budget_min=str(low) if low is not None else None,
                    budget_max=str(high) if high is not None else None, currency=currency, needed_by=needed_by,
                    country=country, visibility=visibility, status="open", created_at=now,
                    expires_at=now + timedelta(days=expires_in_days), content=b"")
    intent.public_id = "int_" + secrets.token_urlsafe(12)
    intent.content = _seal(ensure_data_key(db, keys, customer), customer.id, f"intent:{intent.public_id}",
                           {"title": title, "description": description, "city": city})
    db.add(intent)
    db.flush()
    for app in chosen:
        db.add(IntentAudience(intent_id=intent.id, app_id=app.id))
    db.flush()
    _record(db, customer, intent, "write", "publish", actor=customer.public_id, actor_role="customer", now=now)
    return intent


def for_customer(db: Session, customer_id: int) -> list[Intent]:
    return list(db.scalars(select(Intent).where(Intent.account_id == customer_id)
                           .order_by(Intent.created_at.desc(), Intent.id.desc())))


def titles(db: Session, keys: KeyService, customer_id: int, found: Iterable[Intent]) -> dict[int, str]:
    """Intent row id -> its title, unsealing with the customer's key once."""
    found = list(found)
    if not found:
        return {}
    dek = data_key(db, keys, customer_id)
    return {i.id: intent_text(db, keys, i, dek=dek).title for i in found if i.account_id == customer_id}


def get_for_customer(db: Session, customer_id: int, public_id: str) -> Intent:
    intent = db.scalar(select(Intent).where(Intent.public_id == public_id, Intent.account_id == customer_id))
    if intent is None:
        raise IntentNotFound("No such request.")
    return intent


def audience_of(db: Session, intent: Intent) -> list[VendorApp]:
    return list(db.scalars(select(VendorApp).join(IntentAudience, IntentAudience.app_id == VendorApp.id)
                           .where(IntentAudience.intent_id == intent.id).order_by(VendorApp.name)))


def offer_counts(db: Session, intent_ids: Iterable[int]) -> dict[int, int]:
    ids = list(intent_ids)
    if not ids:
        return {}
    rows = db.execute(select(IntentOffer.intent_id, func.count()).where(IntentOffer.intent_id.in_(ids))
                      .group_by(IntentOffer.intent_id))
    return {intent_id: count for intent_id, count in rows}


def seen_by(db: Session, intent: Intent) -> int:
    """How many vendor apps have looked at the intent so far."""
    return db.scalar(select(func.count()).select_from(IntentView).where(IntentView.intent_id == intent.id)) or 0


def offers_for_customer(db: Session, keys: KeyService, intent: Intent) -> list[OfferRow]:
    """Every offer on the intent, cheapest first within a currency, unsealed for comparison."""
    rows = list(db.scalars(select(IntentOffer).where(IntentOffer.intent_id == intent.id)))
    if not rows:
        return []
    dek = data_key(db, keys, intent.account_id)
    rows.sort(key=lambda o: (o.currency, Decimal(o.price), o.id))
    return [OfferRow(o, offer_text(db, keys, intent, o, dek=dek)) for o in rows]


def get_offer(db: Session, intent: Intent, offer_public_id: str) -> IntentOffer:
    offer = db.scalar(select(IntentOffer).where(IntentOffer.public_id == offer_public_id,
                                                IntentOffer.intent_id == intent.id))
    if offer is None:
        raise IntentNotFound("No such offer.")
    return offer


def _open_or_conflict(intent: Intent, now: datetime) -> None:
    status = intent.current_status(now)
    if status == "expired":
        raise IntentConflict("This request has expired.")
    if status != "open":
        raise IntentConflict("This request is closed.")


def accept(db: Session, customer: Account, intent: Intent, offer: IntentOffer, *,
           now: datetime | None = None) -> IntentOffer:
    """The customer chooses ``offer``: the intent closes and every bidder is told.

    Sharing what the vendor needs is a separate step (the consent screen): nothing of the
    customer's vault reaches the vendor by accepting alone.
    """
    now = now or utcnow()
    acceptable(intent, offer, now)
    _close(db, customer, intent, "accepted", now, accepted=offer)
    return offer


def acceptable(intent: Intent, offer: IntentOffer, now: datetime) -> None:
    """Raise unless ``offer`` can be accepted now (the intent open, the offer open and valid)."""
    _open_or_conflict(intent, now)
    if offer.intent_id != intent.id:
        raise IntentNotFound("No such offer.")
    if offer.status != "open":
        raise IntentConflict("You already declined this offer.")
    if offer.lapsed(now):
        raise IntentConflict("This offer is no longer valid.")


def decline_offer(db: Session, customer: Account, intent: Intent, offer: IntentOffer, *,
                  now: datetime | None = None) -> None:
    """Turn one offer down; the intent stays open for the others (the vendor sees the status)."""
    now = now or utcnow()
    _open_or_conflict(intent, now)
    if offer.status != "open":
        raise IntentConflict("You already declined this offer.")
    offer.status = "declined"
    db.flush()
    _record(db, customer, intent, "write", "decline_offer", actor=customer.public_id, actor_role="customer",
            now=now, vendor_app=offer.app.client_id, offer=offer, fields=("offers",))


def decline(db: Session, customer: Account, intent: Intent, *, now: datetime | None = None) -> None:
    """Close the intent choosing none of the offers."""
    now = now or utcnow()
    _open_or_conflict(intent, now)
    _close(db, customer, intent, "declined", now)


def withdraw(db: Session, customer: Account, intent: Intent, *, now: datetime | None = None) -> None:
    """Take the intent back, at any time while it is open (an expired one is already closed)."""
    now = now or utcnow()
    _open_or_conflict(intent, now)
    _close(db, customer, intent, "withdrawn", now)


def close_for_erasure(db: Session, customer: Account, *, now: datetime | None = None) -> int:
    """Close every open intent of a customer who is erasing their account; returns how many.

    Each is withdrawn as if by the customer (an open one already past its expiry is recorded as
    expired, as the worker would), so every bidder hears ``intent.closed`` exactly as for a
    withdrawal. Call it before the data key and the rows go: afterwards no one could be told.
    """
    now = now or utcnow()
    found = db.scalars(select(Intent).where(Intent.account_id == customer.id, Intent.status == "open")
                       .order_by(Intent.id).with_for_update()).all()
    for intent in found:
        if intent.current_status(now) == "expired":
            _close(db, customer, intent, "expired", now, actor_role="system")
        else:
            _close(db, customer, intent, "withdrawn", now)
    return len(found)


def _close(db: Session, customer: Account, intent: Intent, status: str, now: datetime, *,
           accepted: IntentOffer | None = None, actor_role: str = "customer") -> None:
    intent.status, intent.closed_at = status, now
    intent.accepted_offer_id = accepted.id if accepted is not None else None
    offers = list(db.scalars(select(IntentOffer).where(IntentOffer.intent_id == intent.id).order_by(IntentOffer.id)))
    for offer in offers:
        if accepted is not None and offer.id == accepted.id:
            offer.status = "accepted"
        elif offer.status == "open":
            offer.status = "closed"
    db.flush()
    actor = customer.public_id if actor_role == "customer" else "system"
    _record(db, customer, intent, "write", status if status != "accepted" else "accept", actor=actor,
            actor_role=actor_role, now=now, vendor_app=accepted.app.client_id if accepted else None,
            offer=accepted)
    _tell_bidders(db, intent, offers, accepted, now)


def _tell_bidders(db: Session, intent: Intent, offers: list[IntentOffer], accepted: IntentOffer | None,
                  now: datetime) -> None:
    """One ``intent.closed`` per bidding app. Only the chosen bidder may learn who the customer is
    (``sub``), and only if the customer already shares with it; everyone else hears about an intent."""
    by_app: dict[int, list[IntentOffer]] = {}
    for offer in offers:
        by_app.setdefault(offer.app_id, []).append(offer)
    for app_id, own in sorted(by_app.items()):
        won = accepted is not None and accepted.app_id == app_id
        data = {"intent": intent.public_id, "reason": intent.status, "accepted": won,
                "accepted_offer": accepted.public_id if won else None,
                "offers": [{"id": o.public_id, "status": o.status} for o in own],
                "closed_at": now.isoformat()}
        grant = None
        if won:
            grant = db.scalar(select(Grant).where(Grant.account_id == intent.account_id, Grant.app_id == app_id))
        events.emit(db, type="intent.closed", app_id=app_id, account_id=intent.account_id if grant else None,
                    grant=grant, data=data, now=now)


def authorization_request(offer: IntentOffer) -> dict | None:
    """The OAuth authorization request parameters the vendor prepared with its offer, or None.

    PKCE S256 with the vendor's own challenge: the vault never knows the verifier, so the code
    the consent screen sends back can be redeemed only by that vendor.
    """
    if not (offer.scopes and offer.redirect_uri and offer.code_challenge):
        return None
    return {"response_type": "code", "client_id": offer.app.client_id, "redirect_uri": offer.redirect_uri,
            "scope": " ".join(offer.scopes), "state": offer.state or offer.public_id,
            "code_challenge": offer.code_challenge, "code_challenge_method": "S256"}


# -- expiry ---------------------------------------------------------------------------------------

def expire_due(db: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Record every open intent past its expiry as expired and tell its bidders; returns how many."""
    now = now or utcnow()
    due = db.scalars(select(Intent).where(Intent.status == "open", Intent.expires_at <= now)
                     .order_by(Intent.id).limit(limit).with_for_update(skip_locked=True)).all()
    for intent in due:
        customer = db.get(Account, intent.account_id)
        _close(db, customer, intent, "expired", now, actor_role="system")
    return len(due)


def expire_round(sessions, now: datetime | None = None) -> dict:
    """One worker round of :func:`expire_due`, committed."""
    with unit_of_work(sessions) as db:
        return {"intents_expired": expire_due(db, now=now)}


# -- the vendor's side ----------------------------------------------------------------------------

def app_categories(db: Session, app_id: int) -> list[str]:
    return sorted(db.scalars(select(AppIntentCategory.category).where(AppIntentCategory.app_id == app_id)))


def set_app_categories(db: Session, app: VendorApp, categories: Iterable[str]) -> list[str]:
    """Replace the categories the app sees intents in (an empty list: every category)."""
    require(app, READ_SCOPE)
    wanted = sorted(set(categories))
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise ValidationFailed({"categories": [f"Unknown categories: {', '.join(unknown)}."]})
    for row in db.scalars(select(AppIntentCategory).where(AppIntentCategory.app_id == app.id)):
        db.delete(row)
    db.flush()
    for category in wanted:
        db.add(AppIntentCategory(app_id=app.id, category=category))
    db.flush()
    return wanted


def _addressed(app_id: int, categories: list[str]):
    """SQL: the intent is shown to this app (public in its categories, or addressed to it)."""
    public = Intent.visibility == "all"
    if categories:
        public = and_(public, Intent.category.in_(categories))
    chosen = and_(Intent.visibility == "chosen",
                  exists().where(IntentAudience.intent_id == Intent.id, IntentAudience.app_id == app_id))
    return or_(public, chosen)


def _bidder(app_id: int):
    return exists().where(IntentOffer.intent_id == Intent.id, IntentOffer.app_id == app_id)


def open_for_app(db: Session, app: VendorApp, *, category: str | None = None, after_id: int | None = None,
                 limit: int = PAGE, now: datetime | None = None) -> tuple[list[Intent], int | None]:
    """Open, unexpired intents shown to ``app``, oldest first, paged by id.

    Returns the intents and the id to continue after (None at the end).
    """
    require(app, READ_SCOPE)
    now = now or utcnow()
    stmt = select(Intent).where(Intent.status == "open", Intent.expires_at > now,
                                _addressed(app.id, app_categories(db, app.id)))
    if category:
        stmt = stmt.where(Intent.category == category)
    if after_id:
        stmt = stmt.where(Intent.id > after_id)
    found = list(db.scalars(stmt.order_by(Intent.id).limit(limit)))
    return found, (found[-1].id if len(found) == limit else None)


def get_for_app(db: Session, app: VendorApp, public_id: str, *, now: datetime | None = None) -> Intent:
    """An intent ``app`` may address: open and shown to it, or one it has bid on (any status)."""
    require(app, READ_SCOPE)
    now = now or utcnow()
    shown = and_(Intent.status == "open", Intent.expires_at > now, _addressed(app.id, app_categories(db, app.id)))
    intent = db.scalar(select(Intent).where(Intent.public_id == public_id, or_(shown, _bidder(app.id))))
    if intent is None:
        raise IntentNotFound("No such intent for your app.")
    return intent


def record_views(db: Session, app: VendorApp, intents: Iterable[Intent], *, now: datetime | None = None) -> None:
    """Ledger a read on the customer's chain the first time ``app`` sees each intent.

    Chains are appended in sorted order (two requests never take chain locks in opposite orders);
    a concurrent first look by the same app loses the race on the primary key and changes nothing.
    """
    now = now or utcnow()
    batch = [i for i in intents]
    if not batch:
        return
    seen = set(db.scalars(select(IntentView.intent_id).where(IntentView.app_id == app.id,
                                                             IntentView.intent_id.in_([i.id for i in batch]))))
    fresh = [i for i in batch if i.id not in seen]
    if not fresh:
        return
    owners = {a.id: a for a in db.scalars(select(Account).where(Account.id.in_({i.account_id for i in fresh})))}
    for intent in sorted(fresh, key=lambda i: (owners[i.account_id].public_id, i.id)):
        try:
            with db.begin_nested():
                db.add(IntentView(intent_id=intent.id, app_id=app.id, first_seen_at=now))
                db.flush()
                _record(db, owners[intent.account_id], intent, "read", "view", actor=app.client_id,
                        actor_role="vendor", now=now, vendor_app=app.client_id)
        except IntegrityError:
            continue


def offers_of_app(db: Session, keys: KeyService, app: VendorApp, intent: Intent) -> list[OfferRow]:
    """This app's own offers on the intent; never another vendor's."""
    rows = list(db.scalars(select(IntentOffer).where(IntentOffer.intent_id == intent.id,
                                                     IntentOffer.app_id == app.id).order_by(IntentOffer.id)))
    if not rows:
        return []
    dek = data_key(db, keys, intent.account_id)
    return [OfferRow(o, offer_text(db, keys, intent, o, dek=dek)) for o in rows]


def place_offer(db: Session, keys: KeyService, app: VendorApp, intent: Intent, *, price, currency: str,
                description: str, valid_until: datetime, terms: str | None = None, scopes: Iterable[str] = (),
                redirect_uri: str | None = None, code_challenge: str | None = None, state: str | None = None,
                now: datetime | None = None) -> OfferRow:
    """``app`` answers ``intent`` with an offer; the customer is notified.

    ``scopes`` are the read scopes the vendor needs to fulfil it (each declared by the app). With
    ``redirect_uri`` (already checked against the app's registered ones by the caller) and
    ``code_challenge``, accepting sends the customer to the consent screen with exactly that
    authorization request.
    """
    now = now or utcnow()
    require(app, OFFER_SCOPE)
    _open_or_conflict(intent, now)
    errors: dict = {}
    amount = _amount(price, "price", errors)
    if amount is None and "price" not in errors:
        errors["price"] = ["Please fill this in."]
    currency = _code(currency, "currency", CURRENCIES, "Enter a three-letter currency code, like EUR or SAR.", errors)
    if currency is None and "currency" not in errors:
        errors["currency"] = ["Please fill this in."]
    description = _text(description, "description", MAX_TEXT, errors, multiline=True)
    terms = _text(terms, "terms", MAX_TEXT, errors, required=False, multiline=True)
    until = _utc(valid_until, "valid_until", errors)
    if until is not None and not now < until <= now + MAX_OFFER_VALIDITY:
        errors["valid_until"] = ["Give a time in the future, within a year."]
    wanted = list(dict.fromkeys(scopes or ()))
    bad = [s for s in wanted if s not in SCOPES or SCOPES[s].access != "read" or s not in _requested(app)
           or s in (READ_SCOPE,)]
    if bad:
        errors["scopes"] = [f"Not read scopes your app declares: {', '.join(sorted(map(str, bad)))}."]
    if (redirect_uri is None) != (code_challenge is None):
        errors["authorization"] = ["Give both redirect_uri and code_challenge, or neither."]
    elif code_challenge is not None:
        if not wanted:
            errors["authorization"] = ["An authorization request needs the scopes it asks for."]
        elif not _CHALLENGE.fullmatch(code_challenge):
            errors["authorization"] = ["code_challenge must be an S256 PKCE challenge (43-128 characters)."]
        elif state is not None and not _STATE.fullmatch(state):
            errors["authorization"] = ["state must be 1-200 visible ASCII characters."]
    if errors:
        raise ValidationFailed(errors)
    mine = db.scalar(select(func.count()).select_from(IntentOffer).where(
        IntentOffer.intent_id == intent.id, IntentOffer.app_id == app.id)) or 0
    if mine >= MAX_OFFERS_PER_APP:
        raise IntentConflict(f"Your app already made {MAX_OFFERS_PER_APP} offers on this intent.")
    customer = db.get(Account, intent.account_id)
    offer = IntentOffer(public_id="off_" + secrets.token_urlsafe(12), intent_id=intent.id, app_id=app.id, app=app,
                        price=str(amount), currency=currency, valid_until=until, scopes_json=json.dumps(wanted),
                        redirect_uri=redirect_uri if code_challenge else None, code_challenge=code_challenge,
                        state=state if code_challenge else None, status="open", created_at=now, content=b"")
    text = OfferText(description, terms)
    offer.content = _seal(ensure_data_key(db, keys, customer), customer.id, f"offer:{offer.public_id}",
                          {"description": description, "terms": terms})
    db.add(offer)
    db.flush()
    _record(db, customer, intent, "write", "offer", actor=app.client_id, actor_role="vendor", now=now,
            vendor_app=app.client_id, offer=offer, fields=("offers",))
    notify(db, account=customer, event="offer_received", now=now,
           params={"vendor": app.name, "intent": intent.public_id})
    return OfferRow(offer, text)
