"""The customer's requests for offers (intent-casting): publish, compare offers, accept, decline, withdraw.

Accepting an offer leads to consent for what that vendor needs to fulfil it. When the vendor
sent an authorization request with its offer (redirect URI + PKCE challenge), the customer goes
to the ordinary OAuth consent screen, and the code goes back to the vendor, who alone holds the
verifier. Otherwise this module shows a consent page of its own and makes the grant through
:func:`consent.grants.grant`, in the same transaction as the acceptance.
"""
from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from consent import grants as consent_grants
from consent import intents
from consent.errors import InvalidConsentChange
from consent.policy import is_live
from consent.scopes import PSEUDO_FIELDS, SCOPES
from vault import records
from vault.clock import utcnow
from vault.errors import ValidationFailed
from vendor_api.context import consent_context, get_db, instance

from ..auth.roles import role_required
from .forms import UNREADABLE, form_number
from .overview import lang
from .views import bp

STATUS_LABELS = {"open": _l("Open"), "accepted": _l("Accepted"), "declined": _l("Closed, no offer chosen"),
                 "withdrawn": _l("Withdrawn"), "expired": _l("Expired")}
OFFER_STATUS_LABELS = {"open": _l("Open"), "accepted": _l("Accepted"), "declined": _l("Declined"),
                       "closed": _l("Not chosen")}
EXPIRY_LABELS = {1: _l("1 day"), 3: _l("3 days"), 7: _l("1 week"), 14: _l("2 weeks"), 30: _l("30 days"),
                 60: _l("60 days"), 90: _l("90 days")}
TERM_CHOICES = {"30": 30, "90": 90, "365": 365, "never": None}
#: The consent layer's sentences for people, marked here for translation (it cannot import Babel).
DOMAIN_MESSAGES = {str(m): m for m in (
    _l("Choose a category."), _l("Choose how long the request stays open."), _l("Choose who may see the request."),
    _l("Choose at least one vendor from the list."), _l("Enter an amount like 250 or 249.99."),
    _l("The highest budget must not be below the lowest."),
    _l("Enter a three-letter currency code, like EUR or SAR."), _l("Say which currency the budget is in."),
    _l("Choose a date from today on, within three years."), _l("This request has expired."),
    _l("This request is closed."), _l("You already declined this offer."), _l("This offer is no longer valid."),
    _l("No such request."), _l("No such offer."),
)}


def _say(message: str) -> str:
    return str(DOMAIN_MESSAGES[message]) if message in DOMAIN_MESSAGES else message


def _errors(errors: dict) -> dict:
    return {field: [_say(m) for m in messages] for field, messages in errors.items()}


def _labels() -> dict:
    language = lang()
    return {"categories": {c.id: c.label(language) for c in intents.CATEGORIES.values()},
            "statuses": STATUS_LABELS, "offer_statuses": OFFER_STATUS_LABELS, "expiry_labels": EXPIRY_LABELS,
            "lang": language}


def _intent_or_404(intent_id: str):
    try:
        return intents.get_for_customer(get_db(), current_user.id, intent_id)
    except intents.IntentNotFound:
        abort(404)


def _offer_or_404(intent, offer_id: str):
    try:
        return intents.get_offer(get_db(), intent, offer_id)
    except intents.IntentNotFound:
        abort(404)


def _detail(intent):
    return redirect(url_for("customer.intent_detail", intent_id=intent.public_id), 303)


@bp.route("/intents")
@role_required("customer")
def intents_list():
    db = get_db()
    mine = intents.for_customer(db, current_user.id)
    return render_template("customer/intents.html", intents=mine, now=utcnow(),
                           titles=intents.titles(db, instance().keys, current_user.id, mine),
                           counts=intents.offer_counts(db, [i.id for i in mine]), **_labels())


def _parse_date(value: str, errors: dict) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors["needed_by"] = [_("Enter a date as year-month-day, like 1990-04-25.")]
        return None


@bp.route("/intents/new", methods=["GET", "POST"])
@role_required("customer")
def intent_new():
    db = get_db()
    apps = intents.eligible_apps(db)
    errors: dict = {}
    state: dict = {"visibility": "all", "expires_in_days": str(intents.DEFAULT_EXPIRY_DAYS)}
    chosen: list[str] = []
    if request.method == "POST":
        state = request.form.to_dict()
        chosen = request.form.getlist("audience")
        needed_by = _parse_date(state.get("needed_by", ""), errors)
        try:
            intent = intents.publish(
                db, instance().keys, current_user, category=state.get("category", ""),
                title=state.get("title", ""), description=state.get("description", ""),
                budget_min=state.get("budget_min"), budget_max=state.get("budget_max"),
                currency=state.get("currency"), needed_by=needed_by, city=state.get("city"),
                country=state.get("country"),
                expires_in_days=form_number(state.get("expires_in_days"), blank=UNREADABLE),
                visibility=state.get("visibility", ""), audience=chosen)
        except ValidationFailed as exc:
            errors = {**_errors(exc.errors), **errors}
        else:
            if not errors:  # else the 422 below rolls the publication back at the edge
                flash(_("Your request is published. You will be told when offers arrive."), "success")
                return _detail(intent)
    return render_template("customer/intent_new.html", apps=apps, errors=errors, state=state, chosen=chosen,
                           expiry_days=intents.EXPIRY_DAYS, **_labels()), (422 if errors else 200)


@bp.route("/intents/<intent_id>")
@role_required("customer")
def intent_detail(intent_id: str):
    db, keys = get_db(), instance().keys
    intent = _intent_or_404(intent_id)
    now = utcnow()
    offers = intents.offers_for_customer(db, keys, intent)
    accepted = next((row for row in offers if row.offer.status == "accepted"), None)
    share_again = None
    if accepted is not None:
        auth = intents.authorization_request(accepted.offer)
        if auth is not None:
            share_again = url_for("oauth_consent.authorize_view") + "?" + urlencode(auth)
    return render_template("customer/intent.html", intent=intent, text=intents.intent_text(db, keys, intent),
                           offers=offers, status=intent.current_status(now), now=now,
                           audience=intents.audience_of(db, intent), seen=intents.seen_by(db, intent),
                           share_again=share_again, scope_label=_scope_label, **_labels())


def _scope_label(scope_id: str) -> str:
    scope = SCOPES.get(scope_id)
    return scope.label(lang()) if scope else scope_id


@bp.route("/intents/<intent_id>/offers/<offer_id>/accept", methods=["POST"])
@role_required("customer")
def intent_accept(intent_id: str, offer_id: str):
    db = get_db()
    intent = _intent_or_404(intent_id)
    offer = _offer_or_404(intent, offer_id)
    auth = intents.authorization_request(offer)
    try:
        if auth is None and offer.scopes:
            intents.acceptable(intent, offer, utcnow())  # accepted on the sharing page, with the grant
            return redirect(url_for("customer.intent_share", intent_id=intent_id, offer_id=offer_id), 303)
        intents.accept(db, current_user, intent, offer)
    except intents.IntentConflict as exc:
        flash(_say(str(exc)), "error")
        return _detail(intent)
    if auth is not None:
        flash(_("You accepted the offer from %(vendor)s. Now choose what to share so it can deliver.",
                vendor=offer.app.name), "success")
        return redirect(url_for("oauth_consent.authorize_view") + "?" + urlencode(auth), 303)
    flash(_("You accepted the offer from %(vendor)s. The other vendors have been told.", vendor=offer.app.name),
          "success")
    return _detail(intent)


@bp.route("/intents/<intent_id>/offers/<offer_id>/share", methods=["GET", "POST"])
@role_required("customer")
def intent_share(intent_id: str, offer_id: str):
    """Consent for an offer whose vendor sent no authorization request: accept and share at once."""
    db, keys = get_db(), instance().keys
    intent = _intent_or_404(intent_id)
    offer = _offer_or_404(intent, offer_id)
    try:
        intents.acceptable(intent, offer, utcnow())
    except intents.IntentConflict as exc:
        flash(_say(str(exc)), "error")
        return _detail(intent)
    existing = consent_grants.find(db, current_user.id, offer.app_id)
    shared = set(existing.scopes) if existing is not None and is_live(existing, utcnow()) else set()
    error = None
    if request.method == "POST":
        if request.form.get("decision") != "approve":
            flash(_("Nothing was accepted or shared."), "info")
            return _detail(intent)
        ticked = [s for s in offer.scopes if s in request.form.getlist("share") and s not in shared]
        term = request.form.get("term", "90")
        try:
            if term not in TERM_CHOICES:
                raise InvalidConsentChange(_("Choose how long to share from the list."))
            if ticked:
                consent_grants.grant(db, consent_context(), customer=current_user, app=offer.app, scopes=ticked,
                                     term_days=TERM_CHOICES[term])
            intents.accept(db, current_user, intent, offer)
        except (InvalidConsentChange, intents.IntentConflict) as exc:
            db.rollback()
            error = _say(str(exc))
        else:
            flash(_("You accepted the offer from %(vendor)s. The other vendors have been told.",
                    vendor=offer.app.name), "success")
            return _detail(intent)
    wanted = offer.scopes
    preview_fields = {f for s in wanted for f in SCOPES[s].fields} - PSEUDO_FIELDS
    values = records.read_fields(db, keys, current_user.id, preview_fields) if preview_fields else {}
    items = [{"scope": SCOPES[s], "already": s in shared,
              "preview": [(f, values.get(f)) for f in SCOPES[s].fields if f not in PSEUDO_FIELDS]}
             for s in wanted if s in SCOPES]
    row = intents.OfferRow(offer, intents.offer_text(db, keys, intent, offer))
    return render_template("customer/intent_share.html", intent=intent, row=row, items=items, error=error,
                           text=intents.intent_text(db, keys, intent), **_labels()), (400 if error else 200)


@bp.route("/intents/<intent_id>/offers/<offer_id>/decline", methods=["POST"])
@role_required("customer")
def intent_decline_offer(intent_id: str, offer_id: str):
    intent = _intent_or_404(intent_id)
    offer = _offer_or_404(intent, offer_id)
    try:
        intents.decline_offer(get_db(), current_user, intent, offer)
    except intents.IntentConflict as exc:
        flash(_say(str(exc)), "error")
    else:
        flash(_("You declined the offer from %(vendor)s.", vendor=offer.app.name), "success")
    return _detail(intent)


@bp.route("/intents/<intent_id>/close", methods=["POST"])
@role_required("customer")
def intent_close(intent_id: str):
    """``action=withdraw`` takes the request back; ``action=decline`` closes it choosing no offer."""
    intent = _intent_or_404(intent_id)
    action = request.form.get("action")
    if action not in ("withdraw", "decline"):
        abort(400)
    try:
        (intents.withdraw if action == "withdraw" else intents.decline)(get_db(), current_user, intent)
    except intents.IntentConflict as exc:
        flash(_say(str(exc)), "error")
    else:
        flash(_("Your request is withdrawn. Vendors who made offers have been told.") if action == "withdraw"
              else _("Your request is closed without choosing an offer. The vendors have been told."), "success")
    return _detail(intent)
