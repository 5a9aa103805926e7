"""One notion of "now" for the whole code base.

Services take ``now`` as an argument (defaulting to :func:`utcnow`) so tests can move the clock
without patching anything global.
"""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """Treat a naive datetime as UTC (SQLite returns naive values) and convert aware ones."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
