"""The customer's connections: which vendors hold what, receipts, access history; narrow, renew, revoke."""
from __future__ import annotations

import base64
import json

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent import contact, deletions, grants, issuing, ledger, policy
from consent import terms as terms_catalogue
from consent.errors import ConsentError, GrantNotFound
from consent.models import TERMS
from consent.receipts import human_summary
from consent.scopes import PSEUDO_FIELDS, SCOPES
from vault import records
from vault.clock import utcnow
from vendor_api.context import consent_context, get_db, instance

from ..auth.roles import role_required
from ..paging import row_id
from .forms import UNREADABLE, form_number
from .overview import connection_rows, lang
from .views import bp

HISTORY_PAGE = 25
#: The vendor's reported contacts shown on its connection page: the most recent ones.
CONTACTS_SHOWN = 50


def _grant_or_404(grant_id: str):
    try:
        return grants.get_for_customer(get_db(), current_user.id, grant_id)
    except GrantNotFound:
        abort(404)


@bp.route("/connections")
@role_required("customer")
def connections():
    return render_template("customer/connections.html", rows=connection_rows(current_user.id), lang=lang())


@bp.route("/connections/<grant_id>")
@role_required("customer")
def connection(grant_id: str):
    db = get_db()
    grant = _grant_or_404(grant_id)
    now = utcnow()
    live = grants.in_force(grant, now)
    shared = sorted(policy.shared_fields(grant) - PSEUDO_FIELDS)
    values = records.read_fields(db, instance().keys, current_user.id, set(shared)) if shared else {}
    before = request.args.get("before", type=row_id)
    history = ledger.entries_for(db, current_user.public_id, vendor_app=grant.app.client_id,
                                 before_id=before, limit=HISTORY_PAGE + 1)
    more = len(history) > HISTORY_PAGE
    history = history[:HISTORY_PAGE]
    deletion = None if live else deletions.confirmation_for_grant(db, grant, now)
    contacts = contact.contacts_for_customer(db, current_user.id, app_id=grant.app_id, limit=CONTACTS_SHOWN + 1)
    return render_template("customer/connection.html", grant=grant, live=live, shared=shared, values=values,
                           deletion=deletion, contacts=contacts[:CONTACTS_SHOWN],
                           more_contacts=len(contacts) > CONTACTS_SHOWN,
                           scopes=[SCOPES[s] for s in grant.scopes if s in SCOPES], lang=lang(),
                           receipts=issuing.receipts_for_grant(db, grant.id), history=history,
                           next_before=history[-1].id if more else None, terms=TERMS,
                           terms_title=_terms_title)


def _terms_title(term_id: str) -> str:
    term = terms_catalogue.CATALOGUE.get(term_id)
    return term.label(lang()) if term else term_id


def _apply(grant_id: str, operation, success: str):
    """Run a change the customer asked for; a refused one leaves nothing behind.

    The answer is a redirect, which the request's end commits: so a refusal rolls back here,
    whatever the operation may have touched before it raised.
    """
    db = get_db()
    grant = _grant_or_404(grant_id)
    try:
        operation(db, grant)
    except ConsentError as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        flash(success, "success")
    return redirect(url_for("customer.connection", grant_id=grant_id), 303)


@bp.route("/connections/<grant_id>/revoke", methods=["POST"])
@role_required("customer")
def revoke(grant_id: str):
    return _apply(grant_id, lambda db, g: grants.revoke(db, consent_context(), g, current_user),
                  _("Consent withdrawn. The vendor can no longer read anything from your vault."))


@bp.route("/connections/<grant_id>/renew", methods=["POST"])
@role_required("customer")
def renew(grant_id: str):
    raw = request.form.get("term", "90")  # "never", or days; the consent layer refuses the rest
    term = None if raw == "never" else form_number(raw, blank=UNREADABLE)
    return _apply(grant_id, lambda db, g: grants.renew(db, consent_context(), g, current_user, term_days=term),
                  _("Consent renewed."))


@bp.route("/connections/<grant_id>/narrow", methods=["POST"])
@role_required("customer")
def narrow(grant_id: str):
    scopes = request.form.getlist("scopes")
    fields = request.form.getlist("fields")
    return _apply(grant_id, lambda db, g: grants.narrow(db, consent_context(), g, current_user,
                                                         scopes=scopes, fields=fields or None),
                  _("You now share less with this vendor."))


@bp.route("/receipts/<receipt_id>/<fmt>")
@role_required("customer")
def receipt(receipt_id: str, fmt: str):
    found = issuing.receipt_of(get_db(), current_user.id, receipt_id)
    if found is None:
        abort(404)
    if fmt == "html":
        facts = issuing.load_facts(found)
        return render_template("customer/receipt.html", receipt=found, summary=human_summary(facts, lang()))
    if fmt in ("kantara.jws", "iso27560.jws"):
        token = found.kantara_jws if fmt.startswith("kantara") else found.dpv_jws
        return _download(token, f"receipt-{receipt_id}.{fmt}", "application/jose")
    if fmt in ("kantara.json", "iso27560.json"):
        token = found.kantara_jws if fmt.startswith("kantara") else found.dpv_jws
        payload = token.split(".")[1]
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return _download(json.dumps(body, indent=2, ensure_ascii=False), f"receipt-{receipt_id}.{fmt}",
                         "application/json")
    abort(404)


def _download(body: str, filename: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
