"""The notification centre: the customer's items, marking them read, choosing channels, one-click renew."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from consent import grants, notifications
from consent.errors import GrantNotFound
from consent.notifications.catalogue import CUSTOMER_EVENTS, OPTIONAL_CHANNELS, render, title
from consent.notifications.service import PAGE
from vault.clock import utcnow
from vendor_api.context import get_db

from ..auth.roles import role_required
from ..paging import row_id
from .overview import lang
from .views import bp


@bp.app_context_processor
def _unread_notifications():
    """``unread_notifications()`` for the navigation: counted only where a template asks."""
    def count() -> int:
        if not (current_user.is_authenticated and current_user.role == "customer"):
            return 0
        try:
            return notifications.unread_count(get_db(), current_user.id)
        except SQLAlchemyError:  # a badge is not worth failing a page (an error page, say) for
            return 0
    return {"unread_notifications": count}


@bp.route("/notifications")
@role_required("customer")
def notifications_list():
    before = request.args.get("before", type=row_id)
    items = notifications.list_for(get_db(), current_user.id, before_id=before,
                                   limit=PAGE + 1)
    more = len(items) > PAGE
    items = items[:PAGE]
    language = lang()
    rows = [{"item": n, "text": render(n.event, n.params, language)} for n in items]
    return render_template("customer/notifications.html", rows=rows,
                           next_before=items[-1].id if more else None)


@bp.route("/notifications/<notification_id>/read", methods=["POST"])
@role_required("customer")
def notification_read(notification_id: str):
    if not notifications.mark_read(get_db(), current_user.id, notification_id, now=utcnow()):
        abort(404)
    return redirect(url_for("customer.notifications_list"), 303)


@bp.route("/notifications/read-all", methods=["POST"])
@role_required("customer")
def notifications_read_all():
    count = notifications.mark_all_read(get_db(), current_user.id, now=utcnow())
    flash(_("%(n)s notification(s) marked as read.", n=count), "success")
    return redirect(url_for("customer.notifications_list"), 303)


@bp.route("/notifications/settings", methods=["GET", "POST"])
@role_required("customer")
def notification_settings():
    db = get_db()
    if request.method == "POST":
        # Only known events and channels are read from the form: anything else is ignored.
        chosen = {event: {c for c in OPTIONAL_CHANNELS if event in request.form.getlist(c)} for event in CUSTOMER_EVENTS}
        notifications.set_choices(db, current_user.id, chosen, now=utcnow())
        flash(_("Saved. You will be told about each event the way you chose."), "success")
        return redirect(url_for("customer.notification_settings"), 303)
    language = lang()
    rows = [{"event": event, "title": title(event, language)} for event in CUSTOMER_EVENTS]
    return render_template("customer/notification_settings.html", rows=rows,
                           chosen=notifications.choices(db, current_user.id))


@bp.route("/notifications/renew/<grant_id>")
@role_required("customer")
def notification_renew(grant_id: str):
    """Where the "expiring" message's link lands: one button renews for the same term as before."""
    try:
        grant = grants.get_for_customer(get_db(), current_user.id, grant_id)
    except GrantNotFound:
        abort(404)
    term = "never" if grant.term_days is None else str(grant.term_days)
    return render_template("customer/notification_renew.html", grant=grant, term=term)
