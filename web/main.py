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
    return response
