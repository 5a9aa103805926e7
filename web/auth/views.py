"""Sign-up, login and logout for every kind of account."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from vault import accounts, totp
from vault.errors import AccountError, ValidationFailed

from vendor_api.context import get_db, instance
from ..extensions import client_address, limiter
from ..navigation import home_for, safe_next
from . import sessions

bp = Blueprint("auth", __name__)


def _account_key() -> str:
    # The keyed hash, not the address: limiter keys sit in Redis, which is not sealed.
    return "login-account:" + instance().login_emails.lookup(request.form.get("email", ""))


def _failed(response) -> bool:
    """Only failed attempts count towards the login limits."""
    return response.status_code != 303


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"], key_func=client_address)
def signup():
    if current_user.is_authenticated:
        return redirect(home_for(current_user), 303)
    errors, email = {}, ""
    if request.method == "POST":
        email = request.form.get("email", "")
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            errors = {"password_confirm": [_("The two passwords are not the same.")]}
        else:
            try:
                account = accounts.sign_up(get_db(), email, password,
                                           locale=request.form.get("locale") or None)
            except ValidationFailed as exc:
                errors = exc.errors
            else:
                sessions.begin(account, request.user_agent.string)
                flash(_("Welcome! Your vault is ready: add what you want to keep."), "success")
                return redirect(url_for("customer.profile"), 303)
    status = 422 if errors else 200
    return render_template("auth/signup.html", errors=errors, email=email), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"], key_func=client_address, deduct_when=_failed)
@limiter.limit("5 per minute;20 per hour", methods=["POST"], key_func=_account_key, deduct_when=_failed)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user), 303)
    error, email = None, ""
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            account = accounts.authenticate(get_db(), email, request.form.get("password", ""))
        except AccountError as exc:
            error = str(exc)
        else:
            target = safe_next(request.args.get("next"))
            if account.totp_secret is not None:
                sessions.await_second_factor(account)
                return redirect(url_for("auth.second_factor", next=target), 303)
            sessions.begin(account, request.user_agent.string)
            return redirect(target or home_for(account), 303)
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, email=email), status


def _pending_key() -> str:
    return f"totp-account:{sessions.pending_account_id()}"


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"], key_func=_pending_key, deduct_when=_failed)
def second_factor():
    """Step two of login for accounts with TOTP: the password alone opens nothing."""
    account = sessions.pending_account(get_db())
    if account is None:
        return redirect(url_for("auth.login"), 303)
    error = None
    if request.method == "POST":
        if totp.verify(get_db(), instance().keys, account, request.form.get("code", "")):
            sessions.begin(account, request.user_agent.string)
            return redirect(safe_next(request.args.get("next")) or home_for(account), 303)
        error = _("That code is not right or was already used. Try the current one.")
    return render_template("auth/second_factor.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sessions.end()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"), 303)
