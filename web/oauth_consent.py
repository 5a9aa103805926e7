"""The consent screen at ``/oauth/authorize``: the customer decides what a vendor app may read.

A thin view over :mod:`vendor_api.authorize`. Order matters (SECURITY.md 1, 12):

1. validate the request first: an unknown client or an unregistered redirect URI gets an error
   page here, never a redirect; other errors go back to the client with ``error``, ``state``
   and ``iss``;
2. not logged in: 303 to the login page, which returns here (``next`` is a local path);
3. only customers decide; the form is CSRF-protected and Approve/Deny answer with 303.
"""
from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from consent.errors import InvalidConsentChange
from vendor_api import authorize
from vendor_api.context import consent_context, get_db, instance
from vendor_api.oauth import redirect_origin

from .security import CSP

bp = Blueprint("oauth_consent", __name__)


def _error_page(status: int, title: str, message: str):
    return render_template("oauth/error.html", title=title, message=message), status


@bp.errorhandler(CSRFError)
def _csrf_failed(_exc):
    # web.errors answers problem+json under /oauth/; this page is for a person.
    return _error_page(400, _("Please try again"),
                       _("This form has expired or did not come from this site. Go back to the app and start again."))


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize_view():
    user = current_user if current_user.is_authenticated else None
    try:
        oauth_grant = authorize.validate(user)
    except OAuth2Error as error:
        response = authorize.error_response(error)
        if response is None:
            return _error_page(400, _("This link cannot be used"),
                               _("The app sent you here with a request we cannot accept (%(reason)s). "
                                 "Nothing was shared. Go back to the app and try again.",
                                 reason=error.description or error.error))
        return response
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path), 303)
    if user.role != "customer":
        return _error_page(403, _("Only customers can share data"),
                           _("You are logged in with an account that has no vault. Log out and log in as a customer."))
    db = get_db()
    if request.method == "POST":
        if request.form.get("decision") != "approve":
            return authorize.deny(db, oauth_grant, user)
        term = request.form.get("term", authorize.DEFAULT_TERM)
        if term not in authorize.TERM_CHOICES:
            return _error_page(400, _("Please try again"), _("Choose how long to share from the list."))
        try:
            return authorize.approve(db, consent_context(), oauth_grant, user,
                                     ticked=request.form.getlist("share"), term=term)
        except InvalidConsentChange as exc:
            return _error_page(400, _("Please try again"), str(exc))
    view = authorize.describe(db, instance().keys, oauth_grant, user)
    response = make_response(render_template("oauth/consent.html", view=view, lang=_language(),
                                             terms=authorize.TERM_CHOICES, default_term=authorize.DEFAULT_TERM))
    # Browsers apply form-action to the redirect that follows the POST: allow the client's origin.
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {redirect_origin(view.redirect_uri)}")
    return response
