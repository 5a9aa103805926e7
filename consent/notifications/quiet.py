"""Quiet hours: is this instant inside the customer's daily no-contact window, and when does it end?

The window is wall-clock time in the customer's own time zone (``{"start": "22:00", "end":
"07:00", "timezone": "Asia/Riyadh"}`` as the vault keeps it) and may cross midnight. Messages
that fall inside it are deferred to its end, never dropped.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _parse(quiet) -> tuple[time, time, ZoneInfo] | None:
    try:
        return time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]), ZoneInfo(quiet["timezone"])
    except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
        return None


def quiet_until(now: datetime, quiet: dict | None) -> datetime | None:
    """The (UTC) end of the quiet window if ``now`` is inside it, else None.

    A window the vault could not have validated (missing or unknown zone) counts as no window:
    a message is better late than never, but never withheld for a typo.
    """
    parsed = _parse(quiet) if quiet else None
    if parsed is None:
        return None
    start, end, zone = parsed
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= wall < end, local.date()
    else:  # crosses midnight: 22:00-07:00
        inside = wall >= start or wall < end
        end_day = local.date() + timedelta(days=1) if wall >= start else local.date()
    if not inside:
        return None
    until = datetime.combine(end_day, end, tzinfo=zone).astimezone(timezone.utc)
    return until if until > now else None
