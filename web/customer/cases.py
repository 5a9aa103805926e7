"""The customer's service cases with every vendor: open one, follow the thread, answer, close and rate."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from consent import cases
from consent.grants import in_force, list_for_customer
from vault.clock import utcnow
from vault.errors import ValidationFailed
from vendor_api.context import get_db, instance

from ..auth.roles import role_required
from .forms import form_number
from .views import bp

CATEGORY_LABELS = {"question": _l("Question"), "complaint": _l("Complaint"), "repair": _l("Repair"),
                   "return": _l("Return"), "billing": _l("Billing")}
PRIORITY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "urgent": _l("Urgent")}
STATUS_LABELS = {"open": _l("Open"), "in_progress": _l("In progress"),
                 "waiting_on_customer": _l("Waiting for you"), "resolved": _l("Resolved"),
                 "closed": _l("Closed")}


def _labels() -> dict:
    return {"categories": CATEGORY_LABELS, "priorities": PRIORITY_LABELS, "statuses": STATUS_LABELS}


def _connected_apps():
    now = utcnow()
    return [g.app for g in list_for_customer(get_db(), current_user.id) if in_force(g, now)]


@bp.route("/cases")
@role_required("customer")
def cases_list():
    status = request.args.get("status") if request.args.get("status") in cases.STATUSES else None
    found = cases.for_customer(get_db(), current_user.id, status=status)
    return render_template("customer/cases.html", cases=found, status=status, now=utcnow(), **_labels())


@bp.route("/cases/new", methods=["GET", "POST"])
@role_required("customer")
def case_new():
    db = get_db()
    apps = _connected_apps()
    errors, state = {}, {"priority": "normal", "app": request.args.get("app", "")}
    if request.method == "POST":
        state = request.form.to_dict()
        app = next((a for a in apps if a.client_id == state.get("app")), None)
        if app is None:
            errors["app"] = [_("Choose a vendor you are connected to.")]
        else:
            try:
                case = cases.open_case(db, instance().keys, current_user, app, category=state.get("category", ""),
                                       priority=state.get("priority", ""), description=state.get("description", ""))
            except ValidationFailed as exc:
                errors = exc.errors
            except cases.CaseConflict as exc:
                errors["app"] = [str(exc)]
            else:
                flash(_("Case %(ref)s opened. %(vendor)s has been told.", ref=case.reference, vendor=app.name),
                      "success")
                return redirect(url_for("customer.case_detail", reference=case.reference), 303)
    return render_template("customer/case_new.html", apps=apps, errors=errors, state=state,
                           **_labels()), (422 if errors else 200)


def _case_or_404(reference: str):
    try:
        return cases.get_for_customer(get_db(), current_user.id, reference)
    except cases.CaseNotFound:
        abort(404)


@bp.route("/cases/<reference>", methods=["GET", "POST"])
@role_required("customer")
def case_detail(reference: str):
    db, keys = get_db(), instance().keys
    case = _case_or_404(reference)
    errors = {}
    if request.method == "POST":
        try:
            if request.form.get("action") == "close":
                # no stars: closed unrated; unreadable ones: refused with the rating message
                rating = form_number(request.form.get("rating", "").strip())
                cases.close(db, keys, current_user, case, rating=rating, comment=request.form.get("comment", ""))
                flash(_("Case closed. Thank you for rating it.") if rating is not None
                      else str(STATUS_LABELS["closed"]), "success")
            else:
                cases.customer_reply(db, keys, current_user, case, request.form.get("message", ""))
                flash(_("Sent."), "success")
        except ValidationFailed as exc:
            errors = exc.errors
        except cases.CaseConflict as exc:
            flash(str(exc), "error")
            return redirect(url_for("customer.case_detail", reference=reference), 303)
        else:
            return redirect(url_for("customer.case_detail", reference=reference), 303)
    return render_template("customer/case.html", case=case, thread=cases.messages(db, keys, case),
                           comment=cases.read_rating_comment(db, keys, case), errors=errors, now=utcnow(),
                           **_labels()), (422 if errors else 200)
