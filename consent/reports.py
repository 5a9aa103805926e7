"""What privacy officers ask of the ledger: the filtered consent and access log, and the numbers
behind the reports. Plain SQLAlchemy, no Flask, so the CLI and tests ask the same questions.

The ledger holds names (scopes, fields), pseudonymous chain ids and vendor app ids, never vault
values; nothing here reads ``vault_records``. Every officer page records itself through
:func:`record_officer_view`, in the caller's transaction.

Where an officer view is recorded: on the customer's own chain when the view is about exactly one
customer (an entry of their chain, or the log filtered to their id), so the customer sees in their
activity that an officer looked; otherwise (the whole log, exports across customers, integrity
runs, reports) on the system chain.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Text, case, cast, exists, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from vault.clock import utcnow
from vault.keys.signing import SigningKeyring

from . import ledger
from .ledger import SYSTEM_CHAIN, Checkpoint, LedgerEntry, LedgerHead
from .models import VendorApp

#: Customer ids as :func:`vault.models.new_public_id` makes them. The filter accepts nothing else,
#: so an email address or phone number typed into it is refused, never searched for or recorded.
CUSTOMER_ID = re.compile(r"c_[A-Za-z0-9_-]{4,40}")
#: The columns an officer sees of an entry (plus what its canonical JSON holds).
EXPORT_COLUMNS = ("id", "chain", "seq", "at", "type", "actor", "actor_role", "vendor_app", "scopes", "fields",
                  "purpose", "details", "prev_hash", "entry_hash")


def is_chain_id(value: str) -> bool:
    return value == SYSTEM_CHAIN or bool(CUSTOMER_ID.fullmatch(value))


# -- the log -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogFilter:
    """An officer's filter. ``start``/``end`` are the half-open time range [start, end)."""

    chain: str | None = None
    vendor_app: str | None = None
    types: tuple[str, ...] = ()
    scope: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def details(self) -> dict:
        """The filter as flat ledger details (names and ids only: it is recorded with the view)."""
        return {"chain": self.chain, "vendor_app": self.vendor_app, "types": list(self.types),
                "scope": self.scope, "from": self.start.isoformat() if self.start else None,
                "until": self.end.isoformat() if self.end else None}


def _has_scope(dialect: str, scope: str):
    """The entry's ``scopes`` list holds ``scope`` exactly (JSON, not a substring match)."""
    if dialect == "postgresql":
        doc = cast(func.convert_from(LedgerEntry.canonical, literal("UTF8")), JSONB)
        return doc["scopes"].contains(cast(literal(json.dumps([scope])), JSONB))
    items = func.json_each(cast(LedgerEntry.canonical, Text), "$.scopes").table_valued("value")
    return exists(select(literal(1)).select_from(items).where(items.c.value == scope))


def _where(db: Session, f: LogFilter, stmt):
    if f.chain is not None:
        stmt = stmt.where(LedgerEntry.chain == f.chain)
    if f.vendor_app is not None:
        stmt = stmt.where(LedgerEntry.vendor_app == f.vendor_app)
    if f.types:
        stmt = stmt.where(LedgerEntry.type.in_(list(f.types)))
    if f.start is not None:
        stmt = stmt.where(LedgerEntry.created_at >= f.start)
    if f.end is not None:
        stmt = stmt.where(LedgerEntry.created_at < f.end)
    if f.scope is not None:
        stmt = stmt.where(_has_scope(db.get_bind().dialect.name, f.scope))
    return stmt


def _anchor(entry_id: int):
    return tuple_(select(LedgerEntry.created_at).where(LedgerEntry.id == entry_id).scalar_subquery(),
                  literal(entry_id))


_KEY = tuple_(LedgerEntry.created_at, LedgerEntry.id)


@dataclass(frozen=True)
class LogPage:
    """One page, newest first. ``newer``/``older``: the ids to page on from, or None at an end."""

    entries: list[LedgerEntry]
    newer: int | None
    older: int | None


def page(db: Session, f: LogFilter, *, before_id: int | None = None, after_id: int | None = None,
         limit: int = 50) -> LogPage:
    """A page of the filtered log by keyset on (created_at, id): ``before_id`` pages to older
    entries, ``after_id`` back to newer ones; cost does not grow with how far one has paged."""
    if after_id is not None:
        rows = list(db.scalars(_where(db, f, select(LedgerEntry)).where(_KEY > _anchor(after_id))
                               .order_by(LedgerEntry.created_at, LedgerEntry.id).limit(limit + 1)))
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        more_older = bool(rows)
    else:
        stmt = _where(db, f, select(LedgerEntry))
        if before_id is not None:
            stmt = stmt.where(_KEY < _anchor(before_id))
        rows = list(db.scalars(stmt.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
                               .limit(limit + 1)))
        more_older = len(rows) > limit
        rows = rows[:limit]
        more_newer = before_id is not None and bool(rows)
    return LogPage(rows, rows[0].id if rows and more_newer else None, rows[-1].id if rows and more_older else None)


def iter_filtered(db: Session, f: LogFilter, *, batch: int = 500) -> Iterator[dict]:
    """Every entry the filter matches, newest first, as export rows (keyset batches: flat memory)."""
    last: tuple | None = None
    while True:
        stmt = _where(db, f, select(LedgerEntry.__table__))
        if last is not None:
            stmt = stmt.where(_KEY < tuple_(literal(last[0]), literal(last[1])))
        rows = db.execute(stmt.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield export_row(row)
        last = (rows[-1].created_at, rows[-1].id)


def export_row(row) -> dict:
    """One entry as an officer sees it: the recorded columns and its canonical content."""
    data = json.loads(row.canonical)
    return {"id": row.id, "chain": row.chain, "seq": row.seq, "at": data.get("at"), "type": row.type,
            "actor": row.actor, "actor_role": row.actor_role, "vendor_app": row.vendor_app,
            "scopes": data.get("scopes", []), "fields": data.get("fields", []), "purpose": data.get("purpose"),
            "details": data.get("details", {}), "prev_hash": row.prev_hash, "entry_hash": row.entry_hash}


def get_entry(db: Session, entry_id: int) -> LedgerEntry | None:
    return db.get(LedgerEntry, entry_id)


def chain_exists(db: Session, chain: str) -> bool:
    return db.scalar(select(LedgerHead.chain).where(LedgerHead.chain == chain)) is not None


def app_names(db: Session, client_ids: Iterable[str] | None = None) -> dict[str, str]:
    """{client_id: app name}: every app, or just those named."""
    stmt = select(VendorApp.client_id, VendorApp.name).order_by(VendorApp.name)
    if client_ids is not None:
        ids = sorted({c for c in client_ids if c})
        if not ids:
            return {}
        stmt = stmt.where(VendorApp.client_id.in_(ids))
    return dict(db.execute(stmt).all())


def record_officer_view(db: Session, officer_public_id: str, view: str, *, chain: str | None = None,
                        details: dict | None = None, now: datetime | None = None):
    """One ``officer_view`` entry: who looked at what, with which filter.

    ``chain`` is the one customer the view is about, if any; a chain that does not exist (an id
    that matches no customer) is not created: the view is recorded on the system chain instead.
    """
    target = chain if chain and chain != SYSTEM_CHAIN and chain_exists(db, chain) else SYSTEM_CHAIN
    facts = {"view": view, **{k: v for k, v in (details or {}).items() if v not in (None, [], "")}}
    return ledger.append(db, type="officer_view", actor=officer_public_id, actor_role="officer", chain=target,
                         details=facts, now=now)


# -- reports -------------------------------------------------------------------------------------

def period_start(moment: datetime | date, period: str) -> date:
    """The Monday of the ISO week, or the first of the month, that ``moment`` falls in."""
    day = moment.date() if isinstance(moment, datetime) else moment
    if period == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def periods_between(start: datetime, end: datetime, period: str) -> list[date]:
    """Every period that [start, end) touches, oldest first (empty ones included: a time axis)."""
    out, current = [], period_start(start, period)
    last = period_start(end - timedelta(microseconds=1), period)
    while current <= last:
        out.append(current)
        current = (current.replace(day=28) + timedelta(days=4)).replace(day=1) if period == "month" \
            else current + timedelta(days=7)
    return out


@dataclass
class GrantActivity:
    """Grants and revocations counted per period, per vendor app and in total."""

    periods: list[date]
    totals: dict[str, list[int]]  # {"grant": [...], "revoke": [...]} aligned with periods
    by_vendor: dict[str, dict[str, int]] = field(default_factory=dict)  # {client_id: {"grant": n, "revoke": n}}
    rows: list[tuple[date, str, int, int]] = field(default_factory=list)  # (period, client_id, grants, revokes)


def grant_activity(db: Session, start: datetime, end: datetime, period: str = "week") -> GrantActivity:
    periods = periods_between(start, end, period)
    index = {p: i for i, p in enumerate(periods)}
    totals = {"grant": [0] * len(periods), "revoke": [0] * len(periods)}
    cells: Counter = Counter()
    by_vendor: dict[str, Counter] = defaultdict(Counter)
    rows = db.execute(select(LedgerEntry.type, LedgerEntry.vendor_app, LedgerEntry.created_at)
                      .where(LedgerEntry.type.in_(("grant", "revoke")), LedgerEntry.created_at >= start,
                             LedgerEntry.created_at < end))
    for type_, app, at in rows:
        p = period_start(at, period)
        totals[type_][index[p]] += 1
        cells[(p, app or "", type_)] += 1
        by_vendor[app or ""][type_] += 1
    table = sorted({(p, app) for p, app, _ in cells}, key=lambda k: (k[0], k[1]))
    return GrantActivity(periods, totals, {a: dict(c) for a, c in sorted(by_vendor.items())},
                         [(p, app, cells[(p, app, "grant")], cells[(p, app, "revoke")]) for p, app in table])


#: (bucket name, upper bound): how long a grant lasted before the customer withdrew it.
DURATION_BUCKETS = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)), ("week", timedelta(days=7)),
                    ("month", timedelta(days=30)), ("quarter", timedelta(days=90)), ("longer", None))


def grant_durations(db: Session, start: datetime, end: datetime, *, batch: int = 500) -> dict[str, int]:
    """Revocations in [start, end), bucketed by the time since the grant they ended.

    The grant is the newest ``grant`` entry of the same customer chain and app before the revoke
    (a re-grant after a revoke starts a new one; widen and renew do not). Read from the ledger,
    not the grants table, because that keeps only the latest state of each (customer, app).
    """
    revokes = db.execute(select(LedgerEntry.chain, LedgerEntry.vendor_app, LedgerEntry.created_at)
                         .where(LedgerEntry.type == "revoke", LedgerEntry.created_at >= start,
                                LedgerEntry.created_at < end)).all()
    counts = {name: 0 for name, _ in DURATION_BUCKETS}
    counts["unknown"] = 0
    chains = sorted({r.chain for r in revokes})
    granted: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for i in range(0, len(chains), batch):
        for chain, app, at in db.execute(
                select(LedgerEntry.chain, LedgerEntry.vendor_app, LedgerEntry.created_at)
                .where(LedgerEntry.type == "grant", LedgerEntry.chain.in_(chains[i:i + batch]),
                       LedgerEntry.created_at < end)):
            granted[(chain, app)].append(at)
    for chain, app, at in revokes:
        before = [g for g in granted.get((chain, app), ()) if g <= at]
        if not before:
            counts["unknown"] += 1
            continue
        lasted = at - max(before)
        counts[next(name for name, bound in DURATION_BUCKETS if bound is None or lasted < bound)] += 1
    return counts


@dataclass(frozen=True)
class ReadJump:
    vendor_app: str
    recent: int          # reads in the last 7 days
    weekly_average: float  # reads a week over the 28 days before those
    ratio: float | None  # recent / weekly_average; None when there were no reads before
    flagged: bool


def read_jumps(db: Session, until: datetime | None = None, *, min_reads: int = 20,
               ratio: float = 2.0) -> list[ReadJump]:
    """Vendor apps whose reads in the 7 days before ``until`` are at least ``ratio`` times their
    weekly average over the 28 days before that, and at least ``min_reads``; flagged first.

    One grouped count over the ``(type, created_at)`` index; an app with no earlier reads that
    reaches ``min_reads`` is flagged too (a new app reading a lot is worth a look).
    """
    until = until or utcnow()
    mid, since = until - timedelta(days=7), until - timedelta(days=35)
    recent = func.sum(case((LedgerEntry.created_at >= mid, 1), else_=0))
    before = func.sum(case((LedgerEntry.created_at < mid, 1), else_=0))
    rows = db.execute(select(LedgerEntry.vendor_app, recent, before)
                      .where(LedgerEntry.type == "read", LedgerEntry.vendor_app.is_not(None),
                             LedgerEntry.created_at >= since, LedgerEntry.created_at < until)
                      .group_by(LedgerEntry.vendor_app)).all()
    out = []
    for app, n_recent, n_before in rows:
        n_recent, average = int(n_recent or 0), int(n_before or 0) / 4
        r = n_recent / average if average else None
        flagged = n_recent >= min_reads and (r is None or r >= ratio)
        out.append(ReadJump(app, n_recent, average, r, flagged))
    return sorted(out, key=lambda j: (not j.flagged, -(float("inf") if j.ratio is None else j.ratio), -j.recent,
                                     j.vendor_app))



# -- integrity -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointSummary:
    id: int
    created_at: datetime
    kid: str
    heads: int
    entries: int
    signature_ok: bool


def latest_checkpoint(db: Session, signing_keyring: SigningKeyring) -> CheckpointSummary | None:
    """The newest signed checkpoint, with its signature checked against the vault's keys."""
    cp = db.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))
    if cp is None:
        return None
    data = cp.data
    return CheckpointSummary(cp.id, cp.created_at, cp.kid, len(data.get("heads", {})), int(data.get("entries", 0)),
                             signing_keyring.verify(cp.kid, cp.payload, cp.signature))
