"""The change feed: each app's events in one order that never skips or repeats.

Why sealing. Event rows get autoincrement ids when inserted but become visible when their
transaction commits, and transactions commit in any order: a reader that has passed id 7 never
looks back for id 6 committing a moment later. So writers leave ``position`` empty and
:func:`seal` numbers committed events afterwards, holding the row lock on the app's counter
(``app_event_counters``; on SQLite the database's single writer lock): sealers of one app run one
at a time, each numbers only rows already committed, and its numbers become visible together at
its commit. Position *n* is therefore never visible before every position below it, a reader
that pages by position (:func:`page`) sees each event exactly once, and writers take no lock of
the feed's at all.

Cursors are opaque to vendors (``"c1." + position``); a malformed one is a :class:`BadCursor`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .errors import ConsentError
from .outbox import AppEvent, AppEventCounter

MAX_PAGE = 500
_CURSOR_PREFIX = "c1."
_events = AppEvent.__table__
_counters = AppEventCounter.__table__


class BadCursor(ConsentError):
    """A cursor this feed never handed out."""


def encode_cursor(position: int) -> str:
    return f"{_CURSOR_PREFIX}{position}"


def decode_cursor(cursor: str | None) -> int:
    """The position after which to read; no cursor means from the beginning."""
    if cursor is None or cursor == "":
        return 0
    digits = cursor[len(_CURSOR_PREFIX):] if cursor.startswith(_CURSOR_PREFIX) else ""
    if not digits.isdigit() or len(digits) > 18:
        raise BadCursor("The cursor is not one this feed handed out.")
    return int(digits)


def _lock_counter(db: Session, app_id: int) -> int:
    """Create-or-lock the app's counter row and return its last position (one upsert).

    The no-op ``DO UPDATE`` takes the row lock; on PostgreSQL a sealer that waited for it gets the
    row as the previous sealer committed it. On SQLite it is the first write, so it holds the
    writer lock, and everything read after it is the newest committed state.
    """
    conn = db.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_counters).values(app_id=app_id, last_position=0)
    stmt = stmt.on_conflict_do_update(index_elements=["app_id"],
                                      set_={"last_position": _counters.c.last_position})
    return conn.execute(stmt.returning(_counters.c.last_position)).scalar_one()


def seal(db: Session, app_id: int, *, limit: int = 1000) -> int:
    """Give the app's committed, unsealed events the next positions, oldest insert first.

    Runs in the caller's transaction, which should commit straight after (the counter lock is
    held until then). Returns how many were sealed; costs one indexed read when there are none.
    """
    pending = exists().where(_events.c.app_id == app_id, _events.c.position.is_(None), _events.c.in_feed)
    if not db.scalar(select(pending)):
        return 0
    last = _lock_counter(db, app_id)
    ids = db.scalars(select(_events.c.id).where(_events.c.app_id == app_id, _events.c.position.is_(None),
                                                _events.c.in_feed)
                     .order_by(_events.c.id).limit(limit)).all()
    if not ids:
        return 0
    conn = db.connection()
    conn.execute(update(_events).where(_events.c.id == bindparam("e_id")).values(position=bindparam("e_pos")),
                 [{"e_id": event_id, "e_pos": last + i} for i, event_id in enumerate(ids, start=1)])
    conn.execute(update(_counters).where(_counters.c.app_id == app_id).values(last_position=last + len(ids)))
    return len(ids)


def seal_all(db: Session, *, limit: int = 1000) -> int:
    """Seal every app with unsealed events (the worker's job), committing after each app."""
    apps = db.scalars(select(_events.c.app_id).where(_events.c.position.is_(None), _events.c.in_feed)
                      .distinct()).all()
    total = 0
    for app_id in apps:
        total += seal(db, app_id, limit=limit)
        db.commit()
    return total


@dataclass(frozen=True)
class Page:
    events: list[AppEvent]
    next_cursor: str
    has_more: bool


def page(db: Session, app_id: int, cursor: str | None, limit: int = 100) -> Page:
    """Sealed events of the app after ``cursor``, in feed order, at most ``limit`` of them.

    ``next_cursor`` continues after the last event returned (or repeats ``cursor`` when there was
    none, so the caller polls with it later).
    """
    after = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_PAGE))
    rows = list(db.scalars(select(AppEvent).where(AppEvent.app_id == app_id, AppEvent.position > after)
                           .order_by(AppEvent.position).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].position if rows else after), more)
