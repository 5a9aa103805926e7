"""Reading the officers' filters from the query string, with a message per field when one is wrong.

Only known values pass: a vendor app, entry type and scope from their lists, dates as dates, and a
customer id shaped like one. Whatever an officer types is recorded with the view, so a filter that
is not a name or id (an email address, say) is refused, not searched for and not recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _

from consent.ledger import ENTRY_TYPES
from consent.reports import LogFilter, is_chain_id
from consent.scopes import SCOPES
from vault.clock import utcnow

REPORT_DEFAULT_DAYS = 90


@dataclass
class Parsed:
    """What the form holds (to show it again), the filter built from it, and per-field errors."""

    state: dict = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    filter: LogFilter | None = None

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


#: The dates an officer may filter on: nothing in the log is older, and reports reach a period
#: either side of the dates asked for (date.min or date.max there was a 500).
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)


def _text(args, name: str) -> str:
    return (args.get(name) or "").strip()[:200]


def _day(parsed: Parsed, args, name: str) -> date | None:
    raw = _text(args, name)
    parsed.state[name] = raw
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        parsed.fail(name, _("Enter a date as year-month-day, like 2026-03-01."))
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:  # the day after, and periods around it, must exist too
        parsed.fail(name, _("Enter a date between %(first)s and %(last)s.", first=EARLIEST_DAY.isoformat(),
                            last=LATEST_DAY.isoformat()))
        return None
    return day


def _bounds(parsed: Parsed, start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Dates (inclusive, UTC) -> the half-open instants [start, end + 1 day)."""
    if start and end and end < start:
        parsed.fail("to", _("The end date must not be before the start date."))
    lower = datetime.combine(start, time(), timezone.utc) if start else None
    upper = datetime.combine(end + timedelta(days=1), time(), timezone.utc) if end else None
    return lower, upper


def log_filter(args, apps: dict[str, str]) -> Parsed:
    """The log's filter from ``request.args``; ``parsed.filter`` is None when something is wrong."""
    parsed = Parsed()
    vendor, kind, scope, customer = (_text(args, n) for n in ("vendor", "type", "scope", "customer"))
    parsed.state.update(vendor=vendor, type=kind, scope=scope, customer=customer)
    if vendor and vendor not in apps:
        parsed.fail("vendor", _("Choose a vendor app from the list."))
    if kind and kind not in ENTRY_TYPES:
        parsed.fail("type", _("Choose a kind of entry from the list."))
    if scope and scope not in SCOPES:
        parsed.fail("scope", _("Choose a scope from the list."))
    if customer and not is_chain_id(customer):
        parsed.fail("customer", _("Enter a pseudonymous customer id like c_3xAmPle, or system. "
                                  "Names and email addresses are not searchable here."))
    start, end = _bounds(parsed, _day(parsed, args, "from"), _day(parsed, args, "to"))
    if not parsed.errors:
        parsed.filter = LogFilter(chain=customer or None, vendor_app=vendor or None, types=(kind,) if kind else (),
                                  scope=scope or None, start=start, end=end)
    return parsed


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime
    period: str  # "week" or "month"


def report_range(args) -> tuple[Parsed, Range]:
    """The reports' date range: the last 90 days by default; weeks up to about four months, else months."""
    parsed = Parsed()
    today = utcnow().date()
    start_day = _day(parsed, args, "from") or today - timedelta(days=REPORT_DEFAULT_DAYS - 1)
    end_day = _day(parsed, args, "to") or today
    if end_day < start_day:
        parsed.fail("to", _("The end date must not be before the start date."))
        start_day, end_day = end_day, start_day
    if (end_day - start_day).days > 3 * 366:
        parsed.fail("from", _("Choose a range of at most three years."))
        start_day = end_day - timedelta(days=3 * 366)
    parsed.state.update({"from": start_day.isoformat(), "to": end_day.isoformat()})
    lower, upper = _bounds(Parsed(), start_day, end_day)
    period = "week" if (end_day - start_day).days <= 120 else "month"
    return parsed, Range(lower, upper, period)
