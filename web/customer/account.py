"""The customer's own record and account: activity timeline, export, erasure, security."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from functools import wraps

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent import grants, ledger, portability
from consent.ledger import ENTRY_TYPES
from vault import accounts, sessions as vault_sessions
from vault.clock import utcnow
from vault.errors import ValidationFailed
from vault.passwords import verify_password
from vendor_api.context import consent_context, get_db, instance

from ..auth import sessions
from ..auth.roles import role_required
from ..navigation import safe_next
from ..paging import row_id
from .views import bp

PAGE = 50
#: A spreadsheet runs cells starting with these as formulas: such text is exported quoted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def fresh_login_required(form_page: str):
    """Export, erasure and password changes ask for the password again (SECURITY.md 22).

    ``form_page`` is the endpoint of the page that holds the view's form. After the password the
    browser follows a redirect, i.e. a GET: only a GET request may be that destination, so a
    POST is sent back to its form page to press the button again (not to a 405).
    """
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not sessions.recently_authenticated():
                return redirect(url_for("customer.reauthenticate", next=_come_back_to(form_page)), 303)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def _come_back_to(form_page: str) -> str:
    """Where to go once the password is given: this very address for a GET, else the form page."""
    return request.full_path if request.method == "GET" else url_for(form_page)


@bp.route("/reauthenticate", methods=["GET", "POST"])
@role_required("customer", "vendor", "officer")
def reauthenticate():
    error = None
    if request.method == "POST":
        if verify_password(current_user.password_hash, request.form.get("password", "")):
            sessions.mark_reauthenticated()
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"), 303)
        error = _("That password is not right.")
    return render_template("customer/reauthenticate.html", error=error), (401 if error else 200)


@bp.route("/activity")
@role_required("customer")
def activity():
    db = get_db()
    vendor = request.args.get("vendor") or None
    kinds = [t for t in request.args.getlist("type") if t in ENTRY_TYPES] or None
    before = request.args.get("before", type=row_id)
    entries = ledger.entries_for(db, current_user.public_id, types=kinds, vendor_app=vendor,
                                 before_id=before, limit=PAGE + 1)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    check = ledger.verify(db, chain=current_user.public_id)
    apps = {g.app.client_id: g.app.name for g in grants.list_for_customer(db, current_user.id)}
    return render_template("customer/activity.html", entries=entries, check=check, apps=apps,
                           types=ENTRY_TYPES, chosen_types=kinds or [], vendor=vendor,
                           next_before=entries[-1].id if more else None)


@bp.route("/export")
@role_required("customer")
def export_page():
    return render_template("customer/export.html")


@bp.route("/export.<any(json, zip):fmt>", methods=["POST"])
@role_required("customer")
@fresh_login_required("customer.export_page")
def export(fmt: str):
    """The whole export as JSON or as CSVs in a zip. Exporting writes a ledger entry, so a format
    we do not make is refused by the route (404), before anything is read or recorded."""
    document = portability.export_all(get_db(), instance().keys, current_user)
    stamp = utcnow().strftime("%Y%m%d")
    if fmt == "json":
        return Response(json.dumps(document, indent=2, ensure_ascii=False), mimetype="application/json",
                        headers={"Content-Disposition": f'attachment; filename="vrm-vault-{stamp}.json"'})
    return Response(_csv_zip(document), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="vrm-vault-{stamp}.zip"'})


def _csv_zip(document: dict) -> bytes:
    """One CSV per part, for spreadsheets: vault values, connections, receipts, purchases and their
    items, service cases and their messages, intents and the offers on them, notifications, the
    contacts vendors reported, ledger (and the whole document as JSON beside them)."""
    def cell(value):
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        # vendors' text (item names, case replies, offers) is in here: never let a spreadsheet run it
        return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value

    def table(rows, columns):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: cell(v) for k, v in row.items()})
        return out.getvalue()

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("vault.csv", table([{"field": k, "value": v} for k, v in document["vault"].items()],
                                            ["field", "value"]))
        archive.writestr("connections.csv", table(document["connections"], [
            "vendor", "app", "client_id", "your_id_at_this_app", "status", "scopes", "fields", "purpose",
            "granted_at", "expires_at", "revoked_at"]))
        receipts = [{"client_id": c["client_id"], **r} for c in document["connections"] for r in c["receipts"]]
        archive.writestr("receipts.csv", table(receipts, ["client_id", "id", "event", "created_at",
                                                          "kantara_jws", "iso27560_jws"]))
        archive.writestr("purchases.csv", table(
            [{**(p["annotations"] or {}), **p} for p in document["purchases"]],
            ["id", "source", "merchant", "client_id", "order_id", "date", "status", "currency", "total", "shipping",
             "tax", "discount", "gift", "for_someone_else", "not_for_recommendations", "return_reason", "rating",
             "created_at", "updated_at"]))
        archive.writestr("purchase_items.csv", table(
            [{"purchase": p["id"], **item} for p in document["purchases"] for item in p["items"]],
            ["purchase", "name", "sku", "quantity", "unit_price"]))
        archive.writestr("service_cases.csv", table(document["service_cases"], [
            "reference", "vendor", "client_id", "category", "priority", "status", "opened_at", "updated_at",
            "due_first_response_at", "due_resolution_at", "first_response_at", "resolved_at", "closed_at",
            "escalations", "rating", "rating_comment"]))
        archive.writestr("case_messages.csv", table(
            [{"case": c["reference"], **m} for c in document["service_cases"] for m in c["messages"]],
            ["case", "id", "author", "at", "text"]))
        archive.writestr("intents.csv", table(document["intents"], [
            "id", "category", "title", "description", "city", "country", "budget_min", "budget_max", "currency",
            "needed_by", "visibility", "audience", "status", "created_at", "expires_at", "closed_at"]))
        archive.writestr("offers.csv", table(
            [{"intent": i["id"], **o} for i in document["intents"] for o in i["offers"]],
            ["intent", "id", "vendor", "client_id", "price", "currency", "description", "terms", "scopes_asked",
             "status", "valid_until", "created_at"]))
        archive.writestr("notifications.csv", table(document["notifications"], [
            "id", "event", "created_at", "read_at", "subject", "body"]))
        archive.writestr("contacts_reported.csv", table(document["contacts_reported"], [
            "vendor", "client_id", "channel", "at", "reported_at"]))
        archive.writestr("ledger.csv", table(document["ledger"], ["seq", "at", "type", "actor", "actor_role",
                                                                  "vendor_app", "scopes", "fields", "purpose"]))
        archive.writestr("export.json", json.dumps(document, indent=2, ensure_ascii=False))
    return buffer.getvalue()


@bp.route("/delete", methods=["GET", "POST"])
@role_required("customer")
@fresh_login_required("customer.delete_account")
def delete_account():
    error = None
    if request.method == "POST":
        if request.form.get("confirm", "").strip().upper() != "DELETE":
            error = _("Type DELETE to confirm.")
        else:
            told = portability.erase_all(get_db(), consent_context(), current_user)
            sessions.end_all_after_erase()
            flash(_("Your vault is erased. %(n)s vendor(s) were told to delete what they hold.", n=len(told)),
                  "success")
            return redirect(url_for("main.index"), 303)
    return render_template("customer/delete.html", error=error), (422 if error else 200)


@bp.route("/security", methods=["GET", "POST"])
@role_required("customer", "vendor", "officer")
def security():
    db = get_db()
    errors = {}
    if request.method == "POST" and request.form.get("action") == "sign_out_others":
        count = vault_sessions.end_other_sessions(db, current_user.id, sessions.current_token())
        flash(_("Signed out %(n)s other session(s).", n=count), "success")
        return redirect(url_for("customer.security"), 303)
    if request.method == "POST" and request.form.get("action") == "password":
        if not sessions.recently_authenticated():
            return redirect(url_for("customer.reauthenticate", next=url_for("customer.security")), 303)
        if request.form.get("new_password") != request.form.get("new_password_confirm"):
            errors = {"new_password_confirm": [_("The two passwords are not the same.")]}
        else:
            try:
                accounts.change_password(db, current_user, request.form.get("current_password", ""),
                                         request.form.get("new_password", ""))
            except ValidationFailed as exc:
                errors = exc.errors
            else:
                vault_sessions.end_other_sessions(db, current_user.id, sessions.current_token())
                flash(_("Password changed. Your other sessions were signed out."), "success")
                return redirect(url_for("customer.security"), 303)
    return render_template("customer/security.html", errors=errors,
                           sessions=vault_sessions.list_sessions(db, current_user.id),
                           current=sessions.current_token_hash()), (422 if errors else 200)
