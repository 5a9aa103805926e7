"""Reports with charts: grants and revocations over time, scopes asked for and refused, how long
grants last, and vendors whose reads jump. Each chart is inline SVG with its table beside it.

The numbers come from ``consent.reports`` (the ledger) and ``vendor_api.decisions`` (consent
screen choices); this module only turns them into labelled series for the page.
"""
from __future__ import annotations

from flask import render_template, request
from flask_babel import format_date, format_decimal, format_percent, gettext as _, lazy_gettext as _l

from consent import cases, reports
from consent.deletions import CONFIRMATION_DAYS, overdue_deletion_confirmations
from vendor_api.decisions import scope_decisions
from vendor_api.context import get_db

from . import forms
from .blueprint import bp, officer_page, record_view
from .charts import Series, bar_chart, line_chart

#: Reads an app must make in the last 7 days before a jump is flagged, and the jump's size.
JUMP_MIN_READS = 20
JUMP_RATIO = 2.0
TOP_SCOPES = 10

DURATION_LABELS = {"hour": _l("Under an hour"), "day": _l("Under a day"), "week": _l("Under a week"),
                   "month": _l("Under 30 days"), "quarter": _l("Under 90 days"), "longer": _l("90 days or more"),
                   "unknown": _l("Grant not in the ledger")}


def _num(value) -> str:
    return format_decimal(value)


def _period_label(day, period: str) -> str:
    return format_date(day, "MMM y" if period == "month" else "d MMM")


def _grant_chart(activity, period: str):
    labels = [_period_label(p, period) for p in activity.periods]
    return line_chart("chart-grants", _("Grants and revocations per %(period)s", period=_period_name(period)),
                      _("%(grants)s grants and %(revokes)s revocations in the chosen range.",
                        grants=_num(sum(activity.totals["grant"])), revokes=_num(sum(activity.totals["revoke"]))),
                      labels, [Series(_("Grants"), activity.totals["grant"]),
                               Series(_("Revocations"), activity.totals["revoke"])], fmt=_num)


def _period_name(period: str) -> str:
    return _("month") if period == "month" else _("week")


def _vendor_chart(activity, apps):
    vendors = list(activity.by_vendor)
    names = [apps.get(v, v) for v in vendors]
    return bar_chart("chart-vendors", _("Grants and revocations per vendor"),
                     _("Totals per vendor app in the chosen range."), names,
                     [Series(_("Grants"), [activity.by_vendor[v].get("grant", 0) for v in vendors]),
                      Series(_("Revocations"), [activity.by_vendor[v].get("revoke", 0) for v in vendors])], fmt=_num)


def _scope_charts(tallies):
    asked = tallies[:TOP_SCOPES]
    refused = sorted((t for t in tallies if t.refused), key=lambda t: (-t.refused, t.scope))[:TOP_SCOPES]
    return (bar_chart("chart-requested", _("Scopes most requested"),
                      _("How often each scope was asked for on the consent screen."), [t.scope for t in asked],
                      [Series(_("Requested"), [t.requested for t in asked])], fmt=_num),
            bar_chart("chart-refused", _("Scopes most refused"),
                      _("How often customers unticked each scope on the consent screen."),
                      [t.scope for t in refused], [Series(_("Refused"), [t.refused for t in refused])], fmt=_num),
            refused)


def _duration_chart(durations):
    keys = [k for k in DURATION_LABELS if k != "unknown" or durations.get(k)]
    return bar_chart("chart-durations", _("Time from grant to revocation"),
                     _("Revocations in the chosen range, by how long the grant had lasted."),
                     [str(DURATION_LABELS[k]) for k in keys],
                     [Series(_("Revocations"), [durations.get(k, 0) for k in keys])], fmt=_num), keys


def _jump_chart(jumps, apps):
    return bar_chart("chart-jumps", _("Reads: last 7 days against the weekly average before"),
                     _("Reads per vendor app in the 7 days before the range ends, and their weekly average "
                       "over the 28 days before those."), [apps.get(j.vendor_app, j.vendor_app) for j in jumps],
                     [Series(_("Last 7 days"), [j.recent for j in jumps]),
                      Series(_("Weekly average before"), [round(j.weekly_average, 1) for j in jumps])], fmt=_num)


def _service_chart(service):
    return bar_chart("chart-cases", _("Service cases resolved on time"),
                     _("Share of resolved cases per vendor app that met its resolution target, in per cent."),
                     [r.app_name for r in service],
                     [Series(_("On time (%)"), [round((r.resolved_on_time_share or 0) * 100) for r in service])],
                     fmt=_num)


@bp.route("/reports")
@officer_page
def reports_page():
    db = get_db()
    parsed, span = forms.report_range(request.args)
    if parsed.errors:  # nothing shown, so nothing viewed: no ledger entry
        return render_template("privacy/reports.html", parsed=parsed, span=None), 422
    activity = reports.grant_activity(db, span.start, span.end, span.period)
    tallies = scope_decisions(db, span.start, span.end)
    durations = reports.grant_durations(db, span.start, span.end)
    jumps = reports.read_jumps(db, span.end, min_reads=JUMP_MIN_READS, ratio=JUMP_RATIO)
    apps = reports.app_names(db, list(activity.by_vendor) + [j.vendor_app for j in jumps])
    service = cases.service_report(db, since=span.start, now=span.end)
    overdue = overdue_deletion_confirmations(db)
    record_view("reports", details={"from": parsed.state["from"], "to": parsed.state["to"]})
    requested_chart, refused_chart, refused = _scope_charts(tallies)
    duration_chart, duration_keys = _duration_chart(durations)
    return render_template(
        "privacy/reports.html", parsed=parsed, span=span, apps=apps, activity=activity,
        period_labels={p: _period_label(p, span.period) for p in activity.periods},
        grant_chart=_grant_chart(activity, span.period), vendor_chart=_vendor_chart(activity, apps),
        tallies=tallies[:TOP_SCOPES], refused=refused, requested_chart=requested_chart, refused_chart=refused_chart,
        durations=durations, duration_keys=duration_keys, duration_labels=DURATION_LABELS,
        duration_chart=duration_chart, jumps=jumps, jump_chart=_jump_chart(jumps, apps),
        jump_min=JUMP_MIN_READS, jump_ratio=JUMP_RATIO, percent=format_percent,
        service=service, service_chart=_service_chart(service), overdue=overdue,
        confirmation_days=CONFIRMATION_DAYS)
