"""The customer's own terms: which standard terms they proffer to every vendor."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent import terms as terms_service
from vault.errors import ValidationFailed
from vendor_api.context import get_db

from ..auth.roles import role_required
from .overview import lang
from .views import bp


@bp.route("/terms", methods=["GET", "POST"])
@role_required("customer")
def terms():
    db = get_db()
    error = None
    if request.method == "POST":
        try:
            terms_service.choose(db, current_user, request.form.get("term", ""))
        except ValidationFailed:
            error = _("Choose one of the terms listed.")
        else:
            flash(_("Saved. Vendors that accept these terms will agree to them when you next connect."),
                  "success")
            return redirect(url_for("customer.terms"), 303)
    return render_template("customer/terms.html", catalogue=list(terms_service.CATALOGUE.values()),
                           current=terms_service.proffered(db, current_user), lang=lang(),
                           error=error), (422 if error else 200)
