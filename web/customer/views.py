"""The customer's own pages: an overview and editing what the vault keeps."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent import events
from vault import records
from vault.errors import ValidationFailed
from vault.schemas import CHANNELS, INTEREST_CATEGORIES, PREFERENCE_FIELDS, PROFILE_FIELDS, SUPPORTED_LANGUAGES

from ..auth.roles import role_required
from vendor_api.context import get_db, instance
from . import forms
from .labels import option_lists
from .overview import connection_rows, lang

bp = Blueprint("customer", __name__)


@bp.route("/")
@role_required("customer")
def dashboard():
    values = records.read_fields(get_db(), instance().keys, current_user.id)
    filled = {"profile": [f for f in PROFILE_FIELDS if f in values],
              "preferences": [f for f in PREFERENCE_FIELDS if f in values]}
    return render_template("customer/dashboard.html", values=values, filled=filled,
                           profile_fields=PROFILE_FIELDS, preference_fields=PREFERENCE_FIELDS,
                           rows=connection_rows(current_user.id, live_only=True), lang=lang())


def _edit(section: str, parse, template: str):
    db, keys = get_db(), instance().keys
    errors: dict = {}
    if request.method == "POST":
        submitted = parse(request.form)
        if "emails" in submitted:
            forms.keep_verified_flags(submitted, records.read_fields(db, keys, current_user.id, {"emails"}))
        try:
            changed = records.write_fields(db, keys, current_user, submitted)
            events.notify_profile_change(db, current_user, changed)  # names only, per app's grant
        except ValidationFailed as exc:
            errors = forms.flatten_errors(exc.errors)
            state = forms.state_from_form(request.form)
        else:
            if changed:
                flash(_("Saved. Vendors you share these fields with see the new values."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for(f"customer.{section}"), 303)
    else:
        state = forms.form_state(records.read_fields(db, keys, current_user.id))
    return render_template(template, state=state, errors=errors, channels=CHANNELS,
                           interests=INTEREST_CATEGORIES, languages=SUPPORTED_LANGUAGES,
                           email_rows=forms.EMAIL_ROWS, phone_rows=forms.PHONE_ROWS,
                           address_kinds=forms.ADDRESS_KINDS, **option_lists()), (422 if errors else 200)


@bp.route("/profile", methods=["GET", "POST"])
@role_required("customer")
def profile():
    return _edit("profile", forms.profile_from_form, "customer/profile.html")


@bp.route("/preferences", methods=["GET", "POST"])
@role_required("customer")
def preferences():
    return _edit("preferences", forms.preferences_from_form, "customer/preferences.html")
