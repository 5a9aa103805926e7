"""The console's blueprint and the access checks every view goes through.

Pages are for vendor accounts only (customers and officers get 403). An organisation or app is
found only through the person's own membership; anything else is 404, whether it exists or not,
so the console never confirms another vendor's app id.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from vault.errors import NotFound
from vendor_api import console
from vendor_api.context import get_db

from ..auth.roles import role_required

bp = Blueprint("vendor_console", __name__)


def vendor_page(view):
    """Logged in with a vendor account."""
    return role_required("vendor")(view)


def member_org(org_id: int, *, owner: bool = False) -> console.Membership:
    try:
        return console.org_of_member(get_db(), current_user.id, org_id, owner=owner)
    except console.NotAllowed:
        abort(403)
    except NotFound:
        abort(404)


def member_app(client_id: str, *, live: bool = False):
    """(app, OAuth client) of an organisation the person belongs to, else 404. With ``live``, for
    views that change an app: a retired one sends the person back to its page, saying why."""
    try:
        found = console.app_of_member(get_db(), current_user.id, client_id)
    except NotFound:
        abort(404)
    if live and not found[0].is_active:
        flash(_("This app is retired: nothing about it can be changed any more."), "error")
        abort(redirect(url_for("vendor_console.app", client_id=client_id), 303))
    return found


def shown_once(title: str, intro: str, secret: str, *, label: str, back: str, back_label: str, extra: dict | None = None):
    """A page that shows a new secret this one time (rendered by the POST itself, never put in the
    session or a redirect, so it lands nowhere but in this response, which is ``no-store``)."""
    response = render_template("vendor_console/secret.html", title=title, intro=intro, secret=secret, label=label,
                               back=back, back_label=back_label, extra=extra or {})
    return response, 200, {"Cache-Control": "no-store"}
