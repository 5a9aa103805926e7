"""Pages that belong to no one role: the front door and the language switch."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from .navigation import home_for, safe_next

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user), 303)
    return render_template("index.html")


@bp.route("/account")
def account():
    """Where vendor members and officers land until their own portals exist."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"), 303)
    return render_template("account.html")


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    from . import LANGUAGES
    response = redirect(safe_next(request.form.get("next")) or url_for("main.index"), 303)
    if code in LANGUAGES:
        response.set_cookie("vv_lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
        if current_user.is_authenticated:
            # The account's preference wins over the cookie (web.select_locale): keep them in step.
            current_user.locale = code  # committed by vendor_api.context after the request
    return response


@bp.route("/.well-known/jwks.json")
def jwks():
    """Public keys that verify consent receipts and ledger checkpoints (private halves never leave)."""
    from flask import jsonify

    from vendor_api.context import instance
    response = jsonify(instance().signing.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/.well-known/vrm-terms")
def vrm_terms():
    """The standard personal terms customers proffer to vendors, machine-readable (IEEE 7012 spirit)."""
    from flask import jsonify

    from consent.terms import published
    from vendor_api.context import base_url
    response = jsonify(published(base_url()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response

