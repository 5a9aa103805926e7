"""An organisation's apps: create, edit, rotate the client secret, see the numbers; and each app's
webhooks (URL, signing secret, deliveries, resend, test event)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from consent import intents
from consent.scopes import DPV_PURPOSES, SCOPES
from vault.errors import ValidationFailed
from vendor_api import clients, console, webhooks
from vendor_api.context import get_db, instance

from ..customer.overview import lang
from ..paging import row_id
from . import forms
from .blueprint import bp, member_app, member_org, shown_once, vendor_page

DELIVERIES_PAGE = 25


def _settings(form: forms.AppForm) -> console.AppSettings:
    return console.AppSettings(name=form.name.data or "", website=form.website.data or "",
                               purpose=form.purpose.data or "", purpose_category=form.purpose_category.data or "",
                               scopes=list(form.scopes.data or []),
                               redirect_uris=forms.redirect_uri_lines(form.redirect_uris.data))


def _form_page(form, *, org, app=None, errors=None, status=200):
    errors = {**form.errors, **(errors or {})}
    errors.pop("csrf_token", None)
    state = forms.field_state(form)
    state["scopes"] = list(form.scopes.data or [])
    return render_template("vendor_console/app_form.html", org=org, app=app, state=state, errors=errors,
                           scopes=list(SCOPES.values()), purposes=forms.purpose_choices(lang()), lang=lang()), status


@bp.route("/orgs/<int:org_id>/apps/new", methods=["GET", "POST"])
@vendor_page
def new_app(org_id: int):
    membership = member_org(org_id)
    form = forms.AppForm()
    if request.method == "GET":
        return _form_page(form, org=membership.org)
    if not form.validate_on_submit():
        return _form_page(form, org=membership.org, status=422)
    try:
        app, _client, secret = console.create_app(get_db(), membership.org, _settings(form))
    except ValidationFailed as exc:
        return _form_page(form, org=membership.org, errors=forms.service_errors(exc.errors), status=422)
    return shown_once(
        _("%(name)s is registered", name=app.name),
        _("Your app's client secret is below. Store it in your app's configuration now: only its hash is kept, "
          "so it cannot be shown again. If it is lost, rotate it on the app's page."),
        secret, label=_("Client secret"), back=url_for("vendor_console.app", client_id=app.client_id),
        back_label=_("Go to the app"), extra={_("Client id"): app.client_id})


@bp.route("/apps/<client_id>")
@vendor_page
def app(client_id: str):
    db = get_db()
    vendor_app, client = member_app(client_id)
    counts = console.grant_counts(db, [vendor_app.id])[vendor_app.id]
    by_scope = console.scope_counts(db, vendor_app.id)
    scope_rows = [(SCOPES.get(s), s, by_scope.get(s, console.empty_counts()))
                  for s in dict.fromkeys([*vendor_app.requested_scopes, *sorted(by_scope)])]
    takes_intents = intents.READ_SCOPE in vendor_app.requested_scopes and vendor_app.is_active
    return render_template("vendor_console/app.html", app=vendor_app, client=client, counts=counts,
                           owner=member_org(vendor_app.org_id).is_owner,
                           scope_rows=scope_rows, endpoint=webhooks.webhook_endpoint(db, vendor_app.id), lang=lang(),
                           purpose_label=DPV_PURPOSES.get(vendor_app.purpose_category, {}).get(lang())
                           or vendor_app.purpose_category, takes_intents=takes_intents,
                           categories=list(intents.CATEGORIES.values()) if takes_intents else [],
                           chosen=set(intents.app_categories(db, vendor_app.id)) if takes_intents else set())


@bp.route("/apps/<client_id>/intent-categories", methods=["POST"])
@vendor_page
def intent_categories(client_id: str):
    """Which customers' requests for offers this app sees (none ticked: every category)."""
    vendor_app, _client = member_app(client_id, live=True)
    try:
        intents.set_app_categories(get_db(), vendor_app, request.form.getlist("categories"))
    except (ValidationFailed, intents.ScopeNotHeld):
        flash(_("Choose categories from the list, for an app that asks for intents.read."), "error")
    else:
        flash(_("Saved. Your app sees requests in the chosen categories."), "success")
    return redirect(url_for("vendor_console.app", client_id=client_id) + "#intents", 303)


@bp.route("/apps/<client_id>/edit", methods=["GET", "POST"])
@vendor_page
def edit_app(client_id: str):
    vendor_app, client = member_app(client_id, live=True)
    if request.method == "GET":
        current = console.settings_of(vendor_app, client)
        form = forms.AppForm(data={"name": current.name, "website": current.website, "purpose": current.purpose,
                                   "purpose_category": current.purpose_category, "scopes": current.scopes,
                                   "redirect_uris": "\n".join(current.redirect_uris)})
        return _form_page(form, org=vendor_app.org, app=vendor_app)
    form = forms.AppForm()
    if not form.validate_on_submit():
        return _form_page(form, org=vendor_app.org, app=vendor_app, status=422)
    try:
        console.update_app(get_db(), vendor_app, client, _settings(form))
    except ValidationFailed as exc:
        return _form_page(form, org=vendor_app.org, app=vendor_app, errors=forms.service_errors(exc.errors),
                          status=422)
    flash(_("Saved. Customers who connect from now on see these details."), "success")
    return redirect(url_for("vendor_console.app", client_id=client_id), 303)


@bp.route("/apps/<client_id>/secret", methods=["POST"])
@vendor_page
def rotate_secret(client_id: str):
    vendor_app, client = member_app(client_id, live=True)
    secret = clients.rotate_secret(get_db(), client)
    return shown_once(
        _("New client secret for %(name)s", name=vendor_app.name),
        _("The old secret stopped working just now. Put this one in your app's configuration: only its hash is "
          "kept, so it cannot be shown again."),
        secret, label=_("Client secret"), back=url_for("vendor_console.app", client_id=client_id),
        back_label=_("Back to the app"), extra={_("Client id"): vendor_app.client_id})


@bp.route("/apps/<client_id>/registration-token", methods=["POST"])
@vendor_page
def registration_token(client_id: str):
    """A registration access token for managing the app through RFC 7592 (e.g. one the tooling lost).

    Owners only: the token can retire the app (DELETE), which members may not do here.
    """
    vendor_app, client = member_app(client_id, live=True)
    member_org(vendor_app.org_id, owner=True)
    token = clients.issue_registration_token(get_db(), client)
    return shown_once(
        _("Registration access token for %(name)s", name=vendor_app.name),
        _("Your tooling sends this token as “Authorization: Bearer …” to the client configuration endpoint below "
          "to read, update or delete this app's registration. Any earlier token stopped working just now. Each "
          "read or update answers with the next token to use. It cannot be shown again."),
        token, label=_("Registration access token"), back=url_for("vendor_console.app", client_id=client_id),
        back_label=_("Back to the app"),
        extra={_("Client configuration endpoint"): url_for("oauth_registration.manage_client", client_id=client_id,
                                                           _external=True)})


@bp.route("/apps/<client_id>/retire", methods=["POST"])
@vendor_page
def retire_app(client_id: str):
    """Take the app out of service for good (owners only)."""
    vendor_app, client = member_app(client_id, live=True)
    member_org(vendor_app.org_id, owner=True)
    clients.retire_app(get_db(), vendor_app, client)
    flash(_("%(name)s is retired. Its client id, secret and tokens stopped working; its customers' consents "
            "end within a minute, and each customer is told.", name=vendor_app.name), "success")
    return redirect(url_for("vendor_console.app", client_id=client_id), 303)


# --- webhooks ---------------------------------------------------------------------------------

def _webhooks_page(vendor_app, form, errors=None, status=200):
    db = get_db()
    errors = {**form.errors, **(errors or {})}
    errors.pop("csrf_token", None)
    before = request.args.get("before", type=row_id)
    deliveries = webhooks.list_deliveries(db, vendor_app.id, limit=DELIVERIES_PAGE + 1, before_id=before)
    more = len(deliveries) > DELIVERIES_PAGE
    deliveries = deliveries[:DELIVERIES_PAGE]
    endpoint = webhooks.webhook_endpoint(db, vendor_app.id)
    state = forms.field_state(form)
    if not state.get("url") and endpoint is not None:
        state["url"] = endpoint.url
    return render_template("vendor_console/webhooks.html", app=vendor_app, endpoint=endpoint, state=state,
                           errors=errors, deliveries=deliveries, paged=before is not None,
                           older=deliveries[-1].id if more else None), status


@bp.route("/apps/<client_id>/webhooks", methods=["GET", "POST"])
@vendor_page
def webhooks_page(client_id: str):
    vendor_app, _client = member_app(client_id, live=request.method == "POST")
    form = forms.WebhookForm()
    if request.method == "GET":
        return _webhooks_page(vendor_app, form)
    if not form.validate_on_submit():
        return _webhooks_page(vendor_app, form, status=422)
    try:
        secret = webhooks.set_webhook_url(get_db(), instance().keys, vendor_app, form.url.data)
    except webhooks.WebhookError as exc:
        return _webhooks_page(vendor_app, form, {"url": [forms.message(str(exc))]}, status=422)
    if secret is None:
        flash(_("Saved. Events go to the new address from now on; the signing secret is unchanged."), "success")
        return redirect(url_for("vendor_console.webhooks_page", client_id=client_id), 303)
    return shown_once(
        _("Webhooks are on for %(name)s", name=vendor_app.name),
        _("Every event is signed with this secret (the VRM-Signature header). Keep it in your receiver's "
          "configuration now: it cannot be shown again. You can rotate it at any time."),
        secret, label=_("Webhook signing secret"), back=url_for("vendor_console.webhooks_page", client_id=client_id),
        back_label=_("Back to webhooks"))


@bp.route("/apps/<client_id>/webhooks/secret", methods=["POST"])
@vendor_page
def rotate_webhook_secret(client_id: str):
    vendor_app, _client = member_app(client_id, live=True)
    try:
        secret = webhooks.rotate_webhook_secret(get_db(), instance().keys, vendor_app)
    except webhooks.WebhookError as exc:
        flash(forms.message(str(exc)), "error")
        return redirect(url_for("vendor_console.webhooks_page", client_id=client_id), 303)
    return shown_once(
        _("New webhook signing secret for %(name)s", name=vendor_app.name),
        _("Every event from now on, retries included, is signed with this secret; the old one is no longer "
          "used. It cannot be shown again."),
        secret, label=_("Webhook signing secret"), back=url_for("vendor_console.webhooks_page", client_id=client_id),
        back_label=_("Back to webhooks"))


@bp.route("/apps/<client_id>/webhooks/test", methods=["POST"])
@vendor_page
def send_test_event(client_id: str):
    vendor_app, _client = member_app(client_id, live=True)
    try:
        webhooks.send_test_event(get_db(), vendor_app.id)
    except webhooks.WebhookError as exc:
        flash(forms.message(str(exc)), "error")
    else:
        flash(_("A webhook.test event is queued; it appears below once the worker has sent it."), "success")
    return redirect(url_for("vendor_console.webhooks_page", client_id=client_id), 303)


@bp.route("/apps/<client_id>/webhooks/deliveries/<int:delivery_id>/resend", methods=["POST"])
@vendor_page
def resend(client_id: str, delivery_id: int):
    vendor_app, _client = member_app(client_id, live=True)
    try:
        webhooks.resend(get_db(), vendor_app.id, delivery_id)
    except webhooks.DeliveryNotFound:
        abort(404)
    except webhooks.WebhookError as exc:
        flash(forms.message(str(exc)), "error")
    else:
        flash(_("The event is queued to be sent again, as a new delivery."), "success")
    return redirect(url_for("vendor_console.webhooks_page", client_id=client_id), 303)
