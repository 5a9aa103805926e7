"""Intents for vendors: list customers' open requests for proposals and answer them with offers.

Vendor-level endpoints (a client-credentials token): no customer has granted the app anything
yet, so what an app may do is what it *declares* in its registration — ``intents.read`` to see
intents (and choose its categories), ``offers.write`` to make offers; without it the call is a
403. A customer appears only as ``requester``, a pseudonym for that one intent at that one app.
An app sees its own offers and never another's. An intent the app may not see is a 404, exactly
like one that does not exist; a closed or expired one it may see is a 409 when it bids.
"""
from __future__ import annotations

from datetime import timezone

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from consent import intents, purchases
from consent.models import VendorApp
from consent.scopes import SCOPES
from vault import clock
from vault.errors import ValidationFailed
from vault.records import data_key

from . import clients
from .documenting import error_documenter, no_store
from .context import consent_context, get_db, instance
from .problems import abort_invalid, problem
from .protector import caller, require_oauth
from .schemas import Instant

blp = Blueprint("vendor_api_intents", __name__, url_prefix="/api/v1/intents",
                description="Customers' requests for proposals (your app must declare intents.read / offers.write).")

_ERRORS = {400: "The body is not well-formed JSON.",
           401: "Missing, unknown, expired or revoked token.",
           403: "The token is not a client-credentials token, or your app does not declare the scope needed.",
           404: "No such intent for your app.",
           409: "The intent is closed or expired, or your app made its maximum number of offers on it.",
           422: "The request is not valid.",
           429: "Too many requests: wait for Retry-After seconds."}


_document = error_documenter(blp, _ERRORS)
blp.after_request(no_store)


_READ_ERRORS = (401, 403, 404, 422, 429)
_WRITE_ERRORS = (400, 401, 403, 404, 409, 422, 429)
_MONEY = validate.Regexp(r"^[0-9]{1,10}(\.[0-9]{1,2})?$", error="An amount like \"250\" or \"249.99\".")
#: The codes the intents service accepts (consent.intents checks the same list), documented as such.
_CURRENCY = validate.OneOf(sorted(purchases.CURRENCIES), error="An ISO 4217 code like \"EUR\".")
_READ_SCOPES = sorted(s.id for s in SCOPES.values() if s.access == "read" and s.id != intents.READ_SCOPE)


# -- schemas --------------------------------------------------------------------------------------

class IntentOut(Schema):
    id = fields.String(required=True, metadata={"example": "int_3q2Z8m0cYb1xQ7ta"})
    requester = fields.String(required=True, metadata={
        "description": "The customer's pseudonym for this intent at your app only; it differs between "
                       "intents and between apps and is not a `sub`."})
    status = fields.String(required=True, metadata={"description": "One of " + ", ".join(intents.STATUSES)})
    category = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    budget_min = fields.String(allow_none=True, required=True)
    budget_max = fields.String(allow_none=True, required=True)
    currency = fields.String(allow_none=True, required=True)
    needed_by = fields.Date(allow_none=True, required=True)
    city = fields.String(allow_none=True, required=True)
    country = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)


class IntentPage(Schema):
    intents = fields.List(fields.Nested(IntentOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Pass as `cursor` for the next page; null at the end."})


class IntentQuery(Schema):
    category = fields.String(validate=validate.OneOf(list(intents.CATEGORIES)))
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{1,9}$"),
                           metadata={"description": "From the previous page's next_cursor."})
    limit = fields.Integer(load_default=intents.PAGE, validate=validate.Range(min=1, max=200))


class CategoryOut(Schema):
    id = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "By language: en, ar."})


class CategoriesOut(Schema):
    catalogue = fields.List(fields.Nested(CategoryOut), required=True)
    selected = fields.List(fields.String(), required=True,
                           metadata={"description": "Categories your app sees; empty means every category."})


class CategoriesIn(Schema):
    categories = fields.List(fields.String(validate=validate.OneOf(list(intents.CATEGORIES))), required=True,
                             validate=validate.Length(max=len(intents.CATEGORIES)))


class AuthorizationIn(Schema):
    redirect_uri = fields.String(required=True, validate=validate.Length(min=1, max=500),
                                 metadata={"description": "One of your registered redirect URIs."})
    code_challenge = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._~-]{43,128}$"),
                                   metadata={"description": "PKCE S256 challenge; you keep the verifier."})
    state = fields.String(validate=validate.Regexp(r"^[\x21-\x7e]{1,200}$"),
                          metadata={"description": "Returned with the code (defaults to the offer id)."})


class OfferIn(Schema):
    price = fields.String(required=True, validate=_MONEY, metadata={"example": "249.99"})
    currency = fields.String(required=True, validate=_CURRENCY)
    description = fields.String(required=True, validate=validate.Length(min=1, max=intents.MAX_TEXT))
    valid_until = Instant(required=True, default_timezone=timezone.utc)
    terms = fields.String(validate=validate.Length(max=intents.MAX_TEXT), allow_none=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(_READ_SCOPES)), load_default=list,
                         validate=validate.Length(max=len(_READ_SCOPES)),
                         metadata={"description": "What you need to fulfil the offer (read scopes your app "
                                                  "declares), asked on the consent screen when accepted."})
    authorization = fields.Nested(AuthorizationIn, metadata={
        "description": "Your authorization request for the consent screen: when the customer accepts, "
                       "they approve these scopes and the code comes to redirect_uri with state."})


class OfferOut(Schema):
    id = fields.String(required=True)
    intent = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "One of " + ", ".join(intents.OFFER_STATUSES)})
    price = fields.String(required=True)
    currency = fields.String(required=True)
    description = fields.String(required=True)
    terms = fields.String(allow_none=True, required=True)
    valid_until = fields.DateTime(required=True)
    scopes = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)


class OfferList(Schema):
    offers = fields.List(fields.Nested(OfferOut), required=True)


# -- helpers --------------------------------------------------------------------------------------

def _app() -> VendorApp:
    return get_db().get(VendorApp, caller().app_id)


def _guard(call, *args, **kwargs):
    """Run a consent service, turning its domain errors into problems."""
    try:
        return call(*args, **kwargs)
    except intents.ScopeNotHeld as exc:
        abort(problem(403, "Forbidden", str(exc), scope=exc.scope))
    except intents.IntentNotFound:
        abort(problem(404, "Not Found", "No such intent for your app."))
    except intents.IntentConflict as exc:
        abort(problem(409, "Conflict", str(exc)))
    except ValidationFailed as exc:
        abort_invalid({"json": exc.errors})


def _intent_out(db, app: VendorApp, intent, dek_cache: dict) -> dict:
    keys = instance().keys
    if intent.account_id not in dek_cache:
        dek_cache[intent.account_id] = data_key(db, keys, intent.account_id)
    text = intents.intent_text(db, keys, intent, dek=dek_cache[intent.account_id])
    return {"id": intent.public_id, "requester": intents.requester(consent_context().pairwise_secret, intent,
                                                                     app.client_id),
            "status": intent.current_status(clock.utcnow()), "category": intent.category, "title": text.title,
            "description": text.description, "budget_min": intent.budget_min, "budget_max": intent.budget_max,
            "currency": intent.currency, "needed_by": intent.needed_by, "city": text.city,
            "country": intent.country, "created_at": intent.created_at, "expires_at": intent.expires_at}


def _offer_out(intent, row: intents.OfferRow) -> dict:
    offer = row.offer
    return {"id": offer.public_id, "intent": intent.public_id, "status": offer.status, "price": offer.price,
            "currency": offer.currency, "description": row.text.description, "terms": row.text.terms,
            "valid_until": offer.valid_until, "scopes": offer.scopes, "created_at": offer.created_at}


# -- views ----------------------------------------------------------------------------------------

@blp.route("")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document(*_READ_ERRORS)
@blp.arguments(IntentQuery, location="query")
@blp.response(200, IntentPage)
@require_oauth("vendor:read")
def list_intents(query):
    """Open intents shown to your app: public ones in your categories and ones addressed to you.

    Oldest first. Needs `intents.read` declared by your app. Each customer is only a `requester`
    pseudonym, different for every intent and every app.
    """
    db, app = get_db(), _app()
    after = int(query["cursor"]) if query.get("cursor") else None
    now = clock.utcnow()
    found, next_after = _guard(intents.open_for_app, db, app, category=query.get("category"), after_id=after,
                               limit=query["limit"], now=now)
    intents.record_views(db, app, found, now=now)
    cache: dict = {}
    return {"intents": [_intent_out(db, app, i, cache) for i in found],
            "next_cursor": str(next_after) if next_after else None}


@blp.route("/categories")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document(401, 403, 429)
@blp.response(200, CategoriesOut)
@require_oauth("vendor:read")
def get_categories():
    """The category catalogue, and the categories your app has chosen to see."""
    app = _app()
    _guard(intents.require, app, intents.READ_SCOPE)
    return _categories(app)


@blp.route("/categories", methods=["PUT"])
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document(400, 401, 403, 422, 429)
@blp.arguments(CategoriesIn)
@blp.response(200, CategoriesOut)
@require_oauth("vendor:read")
def set_categories(body):
    """Choose the categories your app sees public intents in (an empty list: every category)."""
    app = _app()
    _guard(intents.set_app_categories, get_db(), app, body["categories"])
    return _categories(app)


def _categories(app: VendorApp) -> dict:
    return {"catalogue": [{"id": c.id, "labels": dict(c.labels)} for c in intents.CATEGORIES.values()],
            "selected": intents.app_categories(get_db(), app.id)}


@blp.route("/<intent_id>")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document(*_READ_ERRORS)
@blp.response(200, IntentOut)
@require_oauth("vendor:read")
def get_intent(intent_id):
    """One intent: open and shown to your app, or one your app bid on (with its final status)."""
    db, app, now = get_db(), _app(), clock.utcnow()
    intent = _guard(intents.get_for_app, db, app, intent_id, now=now)
    intents.record_views(db, app, [intent], now=now)
    return _intent_out(db, app, intent, {})


@blp.route("/<intent_id>/offers")
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document(*_READ_ERRORS)
@blp.response(200, OfferList)
@require_oauth("vendor:read")
def list_offers(intent_id):
    """Your own offers on the intent and their status (accepted, declined, closed); never another's."""
    db, app = get_db(), _app()
    intent = _guard(intents.get_for_app, db, app, intent_id, now=clock.utcnow())
    return {"offers": [_offer_out(intent, row) for row in intents.offers_of_app(db, instance().keys, app, intent)]}


@blp.route("/<intent_id>/offers", methods=["POST"])
@blp.doc(security=[{"oauth2": ["vendor:read"]}])
@_document(*_WRITE_ERRORS)
@blp.arguments(OfferIn)
@blp.response(201, OfferOut)
@require_oauth("vendor:read")
def make_offer(body, intent_id):
    """Answer the intent with an offer (needs `offers.write` declared by your app).

    The customer is notified and compares it with the others. Add `scopes` (and optionally an
    `authorization` request with your PKCE challenge) for what you need to fulfil it: accepting
    then takes the customer to the consent screen for exactly those.
    """
    db, app, now = get_db(), _app(), clock.utcnow()
    _guard(intents.require, app, intents.OFFER_SCOPE)
    intent = _guard(intents.get_for_app, db, app, intent_id, now=now)
    authorization = body.get("authorization") or {}
    if authorization:
        client = clients.for_app(db, app.id)
        if client is None or authorization["redirect_uri"] not in client.redirect_uris \
                or "authorization_code" not in client.grant_types:
            abort_invalid({"json": {"authorization": {
                "redirect_uri": ["Not one of your app's registered redirect URIs."]}}})
    row = _guard(intents.place_offer, db, instance().keys, app, intent, price=body["price"],
                 currency=body["currency"], description=body["description"], valid_until=body["valid_until"],
                 terms=body.get("terms"), scopes=body.get("scopes") or [],
                 redirect_uri=authorization.get("redirect_uri"), code_challenge=authorization.get("code_challenge"),
                 state=authorization.get("state"), now=now)
    intents.record_views(db, app, [intent], now=now)
    return _offer_out(intent, row)
