"""Enrol and remove an authenticator app (TOTP). Required for privacy officers."""
from __future__ import annotations

from functools import wraps

import segno
from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from vault import totp
from vendor_api.context import get_db, instance

from .roles import role_required
from .views import bp

ENROL_KEY = "vv_totp_enrol"


def two_factor_required(view):
    """For officers' pages: without an enrolled authenticator, enrolment comes first."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.totp_secret is None:
            flash(_("Privacy officers must set up an authenticator app before anything else."), "info")
            return redirect(url_for("auth.two_factor"), 303)
        return view(*args, **kwargs)
    return wrapped


@bp.route("/security/two-factor", methods=["GET", "POST"])
@role_required("customer", "vendor", "officer")
def two_factor():
    db, keys = get_db(), instance().keys
    error = None
    if request.method == "POST" and request.form.get("action") == "disable":
        if current_user.role == "officer":
            error = _("Privacy officers cannot turn two-factor authentication off.")
        elif not totp.verify(db, keys, current_user, request.form.get("code", "")):
            error = _("That code is not right or was already used. Try the current one.")
        else:
            totp.disable(db, current_user)
            flash(_("Two-factor authentication is off."), "info")
            return redirect(url_for("customer.security"), 303)
    elif request.method == "POST":
        secret = session.get(ENROL_KEY)
        if secret and totp.enable(db, keys, current_user, secret, request.form.get("code", "")):
            session.pop(ENROL_KEY, None)
            flash(_("Two-factor authentication is on. You will be asked for a code when you log in."), "success")
            return redirect(url_for("main.index"), 303)
        error = _("That code is not right. Check the time on your phone and try the current code.")
    enabled = current_user.totp_secret is not None
    qr = secret = None
    if not enabled:
        secret = session.get(ENROL_KEY) or totp.new_secret()
        session[ENROL_KEY] = secret
        uri = totp.provisioning_uri(secret, current_user.email)
        qr = segno.make(uri, error="m").svg_data_uri(scale=5, dark="#1b1f24")
    return render_template("auth/two_factor.html", enabled=enabled, qr=qr, secret=secret,
                           error=error), (422 if error else 200)
