"""Vendor sign-up, the console's home, an organisation's apps, its members and invitations, and its
initial access tokens for dynamic client registration."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent.models import VendorOrg
from vault import accounts
from vault.clock import utcnow
from vault.errors import NotFound, ValidationFailed
from vendor_api import console, initial_tokens
from vendor_api.context import base_url, get_db

from ..auth import sessions
from ..extensions import client_address, limiter
from ..navigation import home_for
from . import forms
from .blueprint import bp, member_org, shown_once, vendor_page


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"], key_func=client_address)
def signup():
    """A new organisation and its first member (an owner)."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user), 303)
    form = forms.VendorSignupForm()
    errors: dict = {}
    if form.validate_on_submit():
        try:
            account, org = console.sign_up(
                get_db(), org_name=form.org_name.data, website=form.website.data,
                contact_email=form.contact_email.data, email=form.email.data, password=form.password.data,
                locale=request.form.get("locale") or None)
        except ValidationFailed as exc:
            errors = forms.service_errors(exc.errors)
        else:
            sessions.begin(account, request.user_agent.string)
            flash(_("Welcome! %(org)s is set up. Register your first app.", org=org.name), "success")
            return redirect(url_for("vendor_console.org", org_id=org.id), 303)
    errors = {**form.errors, **errors}
    errors.pop("csrf_token", None)
    return render_template("vendor_console/signup.html", state=forms.field_state(form), errors=errors), \
        (422 if errors else 200)


@bp.route("/")
@vendor_page
def home():
    mine = console.memberships(get_db(), current_user.id)
    if len(mine) == 1:
        return redirect(url_for("vendor_console.org", org_id=mine[0].org.id), 303)
    return render_template("vendor_console/home.html", memberships=mine)


@bp.route("/orgs/<int:org_id>")
@vendor_page
def org(org_id: int):
    membership = member_org(org_id)
    db = get_db()
    apps = console.apps_of_org(db, org_id)
    counts = console.grant_counts(db, [a.id for a in apps])
    return render_template("vendor_console/org.html", membership=membership, org=membership.org, apps=apps,
                           counts=counts)


# --- members and invitations ------------------------------------------------------------------

def _members_page(membership, form, errors=None, status=200):
    db = get_db()
    errors = {**(form.errors if form else {}), **(errors or {})}
    errors.pop("csrf_token", None)
    return render_template("vendor_console/members.html", membership=membership, org=membership.org,
                           members=console.members(db, membership.org.id),
                           invites=console.open_invites(db, membership.org.id) if membership.is_owner else [],
                           state=forms.field_state(form) if form else {"role": "member"}, errors=errors), status


@bp.route("/orgs/<int:org_id>/members")
@vendor_page
def members(org_id: int):
    return _members_page(member_org(org_id), forms.InviteForm())


@bp.route("/orgs/<int:org_id>/members/invite", methods=["POST"])
@vendor_page
def invite(org_id: int):
    membership = member_org(org_id, owner=True)
    form = forms.InviteForm()
    if not form.validate_on_submit():
        return _members_page(membership, form, status=422)
    try:
        row, token = console.invite(get_db(), membership.org, email=form.email.data, role=form.role.data,
                                    invited_by=current_user.id)
    except ValidationFailed as exc:
        return _members_page(membership, form, forms.service_errors(exc.errors), status=422)
    link = base_url() + url_for("vendor_console.accept_invite", token=token)
    return shown_once(
        _("Invitation for %(email)s", email=row.email),
        _("Send this link to %(email)s yourself, by a channel you trust. It works once, only for that address, "
          "until %(when)s. It cannot be shown again: if it is lost, cancel the invitation and make a new one.",
          email=row.email, when=_when(row.expires_at)),
        link, label=_("Invitation link"), back=url_for("vendor_console.members", org_id=org_id),
        back_label=_("Back to members"))


def _when(moment) -> str:
    from flask_babel import format_datetime
    return format_datetime(moment, "medium")


@bp.route("/orgs/<int:org_id>/members/<int:member_id>/remove", methods=["POST"])
@vendor_page
def remove_member(org_id: int, member_id: int):
    member_org(org_id, owner=True)
    try:
        console.remove_member(get_db(), org_id, member_id)
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        flash(forms.message(exc.errors["member"][0]), "error")
    else:
        flash(_("The member was removed."), "success")
    return redirect(url_for("vendor_console.members", org_id=org_id), 303)


@bp.route("/orgs/<int:org_id>/invites/<int:invite_id>/cancel", methods=["POST"])
@vendor_page
def cancel_invite(org_id: int, invite_id: int):
    member_org(org_id, owner=True)
    try:
        console.cancel_invite(get_db(), org_id, invite_id)
    except NotFound:
        abort(404)
    flash(_("The invitation was cancelled: its link no longer works."), "success")
    return redirect(url_for("vendor_console.members", org_id=org_id), 303)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"], key_func=client_address)
def accept_invite(token: str):
    """Join an organisation with an invitation link: as the invited vendor account if logged in as
    it, else with a new vendor account for the invited address (the invitee chooses the password)."""
    db = get_db()
    row = console.find_invite(db, token)
    if row is None:
        abort(404, _("This invitation link is not valid: it may have expired, been used or been cancelled."))
    org = db.get(VendorOrg, row.org_id)
    if current_user.is_authenticated:
        if current_user.role != "vendor" or current_user.email_lookup != row.email_lookup:
            return render_template("vendor_console/invite.html", invite=row, org=org, mode="wrong_account"), 403
        if request.method == "POST":
            console.accept_invite(db, row, current_user)
            flash(_("You are now a member of %(org)s.", org=org.name), "success")
            return redirect(url_for("vendor_console.org", org_id=org.id), 303)
        return render_template("vendor_console/invite.html", invite=row, org=org, mode="join")
    if accounts.find_by_email(db, row.email) is not None:
        login = url_for("auth.login", next=url_for("vendor_console.accept_invite", token=token))
        return render_template("vendor_console/invite.html", invite=row, org=org, mode="log_in", login=login)
    form = forms.AcceptInviteForm()
    errors: dict = {}
    if form.validate_on_submit():
        try:
            account = console.accept_invite_with_new_account(db, row, form.password.data,
                                                             locale=request.form.get("locale") or None)
        except ValidationFailed as exc:
            errors = forms.service_errors(exc.errors)
        else:
            sessions.begin(account, request.user_agent.string)
            flash(_("Welcome! You are now a member of %(org)s.", org=org.name), "success")
            return redirect(url_for("vendor_console.org", org_id=org.id), 303)
    errors = {**form.errors, **errors}
    errors.pop("csrf_token", None)
    return render_template("vendor_console/invite.html", invite=row, org=org, mode="new_account", errors=errors,
                           state={}), (422 if errors else 200)


# --- initial access tokens (RFC 7591) -----------------------------------------------------------

def _tokens_page(membership, form, errors=None, status=200):
    errors = {**form.errors, **(errors or {})}
    errors.pop("csrf_token", None)
    return render_template("vendor_console/tokens.html", membership=membership, org=membership.org,
                           tokens=initial_tokens.list_for_org(get_db(), membership.org.id), now=utcnow(),
                           state=forms.field_state(form), errors=errors,
                           lifetimes=initial_tokens.LIFETIMES_HOURS, max_uses=initial_tokens.MAX_USES,
                           registration_url=base_url() + url_for("oauth_registration.register_client")), status


@bp.route("/orgs/<int:org_id>/registration", methods=["GET", "POST"])
@vendor_page
def tokens(org_id: int):
    membership = member_org(org_id)
    form = forms.InitialTokenForm()
    if request.method == "GET":
        return _tokens_page(membership, form)
    if not form.validate_on_submit():
        return _tokens_page(membership, form, status=422)
    try:
        row, token = initial_tokens.issue(get_db(), membership.org, label=form.label.data, hours=form.hours.data,
                                          max_uses=form.max_uses.data, created_by=current_user.id)
    except ValidationFailed as exc:
        return _tokens_page(membership, form, forms.service_errors(exc.errors), status=422)
    return shown_once(
        _("Initial access token “%(label)s”", label=row.label),
        _("Your tooling sends this token as “Authorization: Bearer …” to the registration endpoint. It registers "
          "at most %(uses)s app(s) for %(org)s, until %(when)s. Copy it now: only its hash is kept, so it cannot "
          "be shown again.", uses=row.max_uses, org=membership.org.name, when=_when(row.expires_at)),
        token, label=_("Initial access token"), back=url_for("vendor_console.tokens", org_id=org_id),
        back_label=_("Back to registration tokens"))


@bp.route("/orgs/<int:org_id>/registration/<int:token_id>/revoke", methods=["POST"])
@vendor_page
def revoke_token(org_id: int, token_id: int):
    member_org(org_id)
    try:
        initial_tokens.revoke(get_db(), org_id, token_id)
    except NotFound:
        abort(404)
    flash(_("The token was revoked: it cannot register anything any more."), "success")
    return redirect(url_for("vendor_console.tokens", org_id=org_id), 303)
