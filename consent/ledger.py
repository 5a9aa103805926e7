"""The tamper-evident, append-only ledger: who did what with which customer's data, and when.

Chains. Every customer has a chain of their own (keyed by ``Account.public_id``); entries about
no customer (key rotation) go to the ``"system"`` chain. Appends to different chains never wait
for each other, and a customer can verify their own history without anyone else's.

Hashing. Each entry stores its canonical JSON bytes exactly as hashed, and::

    entry_hash = sha256(prev_hash + "\\n" + chain + "\\n" + seq + "\\n" + type + "\\n" + actor + "\\n"
                        + actor_role + "\\n" + (vendor_app or "") + "\\n" + at + "\\n" + canonical)

(hex strings, UTF-8; the genesis ``prev_hash`` is 64 zeros). Every value in that header is also
inside ``canonical``, so an outside verifier needs nothing but the canonical bytes; the vault's
verifier instead takes the header from the denormalised columns officers filter on. That way an
edit to a column alone (hiding a read from a vendor filter, moving an entry to another chain or
position, changing its time) breaks the hash like an edit to the content does, and verifying
never parses JSON: raw bytes hash ~10x faster than re-encoding (ARCHITECTURE.md, "The ledger").
The JSON is parsed only after a hash has failed, to say *how* it failed. No field in the header
may contain a newline, so the header cannot be ambiguous.

Serialising appends. ``ledger_heads`` holds each chain's (seq, head hash). An append bumps that
row first (one upsert that returns the new seq and the previous hash), hashes the entry, inserts
it and records the new head hash. On PostgreSQL the row lock serialises appends to that chain
only, until commit, and the four steps are one statement: the function ``vv_ledger_append``
(migration 0013) receives the canonical JSON in two halves around its seq and computes the same
hash server-side, so an append is one round trip — and, outside a transaction, one durable
commit (the vendor read path, ``vendor_api.context``). On SQLite the upsert is the transaction's
first write at the latest, so it holds the writer lock (``vault.sqlite_writer``), and the steps
are three cheap in-process statements. Executed in the caller's transaction, never committed here.

Deleting the newest entries and rewinding ``ledger_heads`` to match is invisible to the chain
alone; signed checkpoints of all heads (:func:`checkpoint`, :func:`verify_checkpoints`) catch it.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, UniqueConstraint, bindparam, func, insert, \
    select, text, tuple_, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from vault.clock import as_utc, utcnow
from vault.driver import DriverStatement
from vault.db import Base, UTCDateTime
from vault.keys.signing import SigningKeyring

ENTRY_TYPES = ("grant", "narrow", "widen", "renew", "revoke", "expire", "read", "write", "export", "erase",
               "login", "officer_view", "key_rotation", "token_reuse", "deletion_confirmed")
ACTOR_ROLES = ("customer", "vendor", "officer", "system")
SYSTEM_CHAIN = "system"
GENESIS = "0" * 64
FORMAT_VERSION = 1
PROBLEM_KINDS = ("edited", "deleted", "reordered", "head_mismatch", "inserted", "bad_signature")

#: Chains, actors and app ids: visible ASCII, no spaces, so they can sit in the hash header.
_TOKEN = re.compile(r"[\x21-\x7e]+")
#: Field, scope and detail names look like identifiers ("profile.email", "address_home"). An
#: email address, phone number, date or street does not, which stops most values passed by mistake.
_NAME = re.compile(r"[a-z][a-z0-9_]*(?:[.:][a-z0-9_]+)*")
_SCALARS = (str, int, float, bool, type(None))
#: Chains sort by code point everywhere (PostgreSQL: COLLATE "C"), as Python compares them: the
#: verifier merges the entry and head streams in Python, and a locale collation such as
#: en_US (which ignores "_" and case at first) would make the two orders disagree.
_CHAIN_TYPE = String(64).with_variant(String(64, collation="C"), "postgresql")
_MAX_NAMES = 64
_MAX_DETAILS = 16
_MAX_DETAIL_TEXT = 200
_MAX_DETAIL_LIST = 32


# -- tables ------------------------------------------------------------------------------------

class LedgerEntry(Base):
    """One entry. ``canonical`` is authoritative; the other columns are copies for filtering."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_ledger_entries_created", "created_at"),
        Index("ix_ledger_entries_vendor", "vendor_app", "created_at"),
        Index("ix_ledger_entries_type", "type", "created_at"),
    )

    # 64-bit: one entry per vendor read passes 2**31 within months at full load.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    chain: Mapped[str] = mapped_column(_CHAIN_TYPE)
    seq: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str] = mapped_column(String(16))
    vendor_app: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def data(self) -> dict:
        """The entry as written (what the customer and officers read; never vault values)."""
        return json.loads(self.canonical)


class LedgerHead(Base):
    """The newest (seq, hash) of each chain: the row an append locks, and what checkpoints sign."""

    __tablename__ = "ledger_heads"

    chain: Mapped[str] = mapped_column(_CHAIN_TYPE, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(Base):
    """A signature over every chain head at one instant (see :func:`checkpoint`)."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    @property
    def data(self) -> dict:
        return json.loads(self.payload)

    @property
    def heads(self) -> dict[str, list]:
        """{chain: [seq, hash]} as signed."""
        return self.data["heads"]


_entries = LedgerEntry.__table__
_heads = LedgerHead.__table__


@dataclass(frozen=True, slots=True)
class AppendedEntry:
    """What :func:`append` wrote: the row's values, as a plain object (no ORM instance on the
    hot path: building a mapped instance cost ~1/6 of an append)."""

    id: int
    chain: str
    seq: int
    prev_hash: str
    entry_hash: str
    canonical: bytes
    type: str
    actor: str
    actor_role: str
    vendor_app: str | None
    created_at: datetime

    @property
    def data(self) -> dict:
        return json.loads(self.canonical)


# -- encoding ----------------------------------------------------------------------------------

def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _iso(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and Z; the same text from the value given and the one stored."""
    return as_utc(moment).isoformat(timespec="microseconds")[:-6] + "Z"


def entry_hash(prev_hash: str, chain: str, seq: int, type: str, actor: str, actor_role: str,
               vendor_app: str | None, at: str, canonical: bytes) -> str:
    """The hash of one entry (see the module docstring for why the header repeats the content)."""
    header = "\n".join((prev_hash, chain, str(seq), type, actor, actor_role, vendor_app or "", at, ""))
    return hashlib.sha256(header.encode("utf-8") + bytes(canonical)).hexdigest()


def hash_of_canonical(prev_hash: str, canonical: bytes) -> str:
    """The same hash computed from the canonical bytes alone: what an outside verifier does."""
    d = json.loads(canonical)
    return entry_hash(prev_hash, d["chain"], d["seq"], d["type"], d["actor"], d["actor_role"],
                      d["vendor_app"], d["at"], canonical)


def _token(value, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not _TOKEN.fullmatch(value):
        raise ValueError(f"Ledger {what} must be 1-{limit} visible ASCII characters, got {value!r}.")
    return value


def _names(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, (str, bytes, Mapping)):
        raise ValueError(f"Ledger {what} must be a list of names.")
    names = list(values)
    if len(names) > _MAX_NAMES:
        raise ValueError(f"Too many ledger {what} ({len(names)}).")
    for name in names:
        if not isinstance(name, str) or len(name) > 64 or not _NAME.fullmatch(name):
            # Deliberately not echoed: it may be the very value that must not be recorded.
            raise ValueError(f"Ledger {what} must be names like 'profile.email', never values.")
    return sorted(set(names))


def _scalar(value, key: str):
    if not isinstance(value, _SCALARS):
        raise ValueError(f"Ledger detail {key!r} must be a string, number, boolean or null.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"Ledger detail {key!r} must be a finite number.")
    if isinstance(value, str) and len(value) > _MAX_DETAIL_TEXT:
        raise ValueError(f"Ledger detail {key!r} is longer than {_MAX_DETAIL_TEXT} characters.")
    return value


def _details(details: Mapping | None) -> dict:
    """Small, flat, non-personal facts (receipt id, grant id, expiry); nested data is refused."""
    if details is None:
        return {}
    if not isinstance(details, Mapping) or len(details) > _MAX_DETAILS:
        raise ValueError(f"Ledger details must be a dict of at most {_MAX_DETAILS} facts.")
    out = {}
    for key, value in details.items():
        if not isinstance(key, str) or len(key) > 40 or not _NAME.fullmatch(key):
            raise ValueError("Ledger detail names must be short identifiers.")
        if isinstance(value, (list, tuple)):
            if len(value) > _MAX_DETAIL_LIST:
                raise ValueError(f"Ledger detail {key!r} lists more than {_MAX_DETAIL_LIST} items.")
            value = [_scalar(item, key) for item in value]
        else:
            value = _scalar(value, key)
        out[key] = value
    return out


# -- append ------------------------------------------------------------------------------------

#: SQLite: create the chain's head at seq 1 or add 1 to it; either way return (new seq, previous
#: hash) — ``head_hash`` is not touched here, so RETURNING gives the previous hash.
_BUMP_SQLITE = DriverStatement(sqlite.insert(_heads).values(chain=bindparam("chain"), seq=1, head_hash=GENESIS) \
    .on_conflict_do_update(index_elements=[_heads.c.chain], set_={"seq": _heads.c.seq + 1}) \
    .returning(_heads.c.seq, _heads.c.head_hash))
_INSERT = DriverStatement(insert(_entries).values(
    {c.name: bindparam(c.name, type_=c.type) for c in _entries.c if c.name != "id"}).returning(_entries.c.id))
_SET_HEAD = DriverStatement(update(_heads).where(_heads.c.chain == bindparam("h_chain"))
                            .values(head_hash=bindparam("h_hash")))


#: PostgreSQL: the whole append in one statement, by the function of migration 0013.
_APPEND_FUNCTION = DriverStatement(text(
    "SELECT new_id, new_seq, new_prev_hash, new_hash FROM vv_ledger_append(:chain, :type, :actor, :actor_role, "
    ":vendor_app, :at, :created_at, :before, :after)"
).bindparams(bindparam("created_at", type_=UTCDateTime()), bindparam("before", type_=LargeBinary()),
             bindparam("after", type_=LargeBinary()))
 .columns(new_id=BigInteger(), new_seq=Integer(), new_prev_hash=String(), new_hash=String()))
#: What stands for the seq in the canonical JSON until the database has numbered the entry.
_SEQ_SLOT = b'"seq":0,'


def append(db: Session, *, type: str, actor: str, actor_role: str, chain: str, vendor_app: str | None = None,
           scopes: Iterable[str] = (), fields: Iterable[str] = (), purpose: str | None = None,
           details: Mapping | None = None, now: datetime | None = None) -> AppendedEntry:
    """Append one entry to ``chain`` in the caller's transaction (executed, never committed).

    Entries name scopes and fields, never values: names must look like identifiers and
    ``details`` holds only flat scalars; anything else is a ValueError before anything is written.
    The returned :class:`AppendedEntry` is a plain copy of the row, not attached to ``db``.
    Appending to two chains in one transaction on PostgreSQL takes two row locks: take them in
    a consistent order (or one chain per transaction) to avoid deadlocks.
    """
    if type not in ENTRY_TYPES:
        raise ValueError(f"Unknown ledger entry type {type!r}.")
    if actor_role not in ACTOR_ROLES:
        raise ValueError(f"Unknown ledger actor role {actor_role!r}.")
    _token(chain, "chain", 64)
    _token(actor, "actor", 80)
    if vendor_app is not None:
        _token(vendor_app, "vendor app", 80)
    if purpose is not None and not isinstance(purpose, str):
        raise ValueError("Ledger purpose must be text.")
    scopes, fields, facts = _names(scopes, "scopes"), _names(fields, "fields"), _details(details)
    now = as_utc(now) if now is not None else utcnow()
    at = _iso(now)

    content = {"v": FORMAT_VERSION, "type": type, "chain": chain, "seq": 0, "at": at, "actor": actor,
               "actor_role": actor_role, "vendor_app": vendor_app, "scopes": scopes, "fields": fields,
               "purpose": purpose, "details": facts}
    # The bytes are built before the first statement, with a slot for the seq the database hands
    # out: nothing but the statements runs while the chain head is locked (SQLite: the writer lock
    # of every process on the file). Keys are sorted, and what follows "seq" (type, v, vendor_app)
    # cannot hold this text (a quote inside a JSON string is escaped): the last match is the slot.
    before, slot, after = canonical_json(content).rpartition(_SEQ_SLOT)
    assert slot, "canonical JSON without a seq"
    head, tail = before + b'"seq":', b"," + after
    conn = db.connection()  # Core on the session's connection: no ORM work on the hot path
    entry_id = None
    if conn.dialect.name == "postgresql":
        entry_id, seq, prev, digest = _APPEND_FUNCTION.first(conn, {
            "chain": chain, "type": type, "actor": actor, "actor_role": actor_role, "vendor_app": vendor_app,
            "at": at, "created_at": now, "before": head, "after": tail})
        canonical = head + str(seq).encode() + tail
    else:
        seq, prev = _BUMP_SQLITE.first(conn, {"chain": chain})
        canonical = head + str(seq).encode() + tail
        digest = entry_hash(prev, chain, seq, type, actor, actor_role, vendor_app, at, canonical)
    row = dict(chain=chain, seq=seq, prev_hash=prev, entry_hash=digest, canonical=canonical, type=type,
               actor=actor, actor_role=actor_role, vendor_app=vendor_app, created_at=now)
    if entry_id is None:  # SQLite: the insert and the head move, in-process
        entry_id = _INSERT.first(conn, row)[0]
        _SET_HEAD.execute(conn, {"h_chain": chain, "h_hash": digest})
    return AppendedEntry(id=entry_id, **row)


def record_key_rotation(db: Session, inst, count: int, *, now: datetime | None = None) -> AppendedEntry:
    """``vault keys rotate`` notes the new key-encryption key on the system chain."""
    return append(db, type="key_rotation", actor="operator", actor_role="system", chain=SYSTEM_CHAIN, now=now,
                  details={"kek": inst.keys.active_kek_id, "data_keys_rewrapped": count})


# -- verify ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """The first thing found wrong. ``seq`` is where the chain stops being trustworthy."""

    chain: str | None
    seq: int | None
    entry_id: int | None
    kind: str
    sentence: str
    checkpoint_id: int | None = None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    chains: int
    first_problem: Problem | None = None


def _verify_columns(dialect: str) -> tuple:
    """What verifying reads, with ``at`` formatted by the database as the canonical JSON has it.

    Formatting in SQL skips a datetime round trip per row (a quarter of the verifier's time).
    SQLite holds SQLAlchemy's "YYYY-MM-DD HH:MM:SS.ffffff" text (microseconds always written).
    """
    if dialect == "postgresql":
        at = func.to_char(func.timezone("UTC", _entries.c.created_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    else:
        at = func.replace(type_coerce(_entries.c.created_at, String), " ", "T") + "Z"
    return (_entries.c.id, _entries.c.chain, _entries.c.seq, _entries.c.prev_hash, _entries.c.entry_hash,
            _entries.c.canonical, _entries.c.type, _entries.c.actor, _entries.c.actor_role,
            _entries.c.vendor_app, type_coerce(at, String).label("at"))


class _Chain:
    """Walks one chain in seq order, carrying the previous hash."""

    def __init__(self, chain: str):
        self.chain, self.seq, self.hash, self.checked = chain, 0, GENESIS, 0

    def feed(self, row) -> Problem | None:
        entry_id, chain, seq, prev_hash, stored, canonical, type, actor, actor_role, vendor_app, at = row
        expected = self.seq + 1
        if seq != expected:
            return Problem(self.chain, expected, entry_id, "deleted",
                           f"Entry {expected} of chain {self.chain} is missing: the chain jumps to {seq}.")
        header = "\n".join((self.hash, chain, str(seq), type, actor, actor_role, vendor_app or "", at, ""))
        if hashlib.sha256(header.encode() + canonical).hexdigest() != stored:  # entry_hash(), inlined
            return self._explain(row)
        if prev_hash != self.hash:
            return Problem(self.chain, seq, entry_id, "edited",
                           f"Entry {seq} of chain {self.chain} was edited: its link to the previous entry "
                           "was changed.")
        self.seq, self.hash = seq, stored
        self.checked += 1
        return None

    def _explain(self, row) -> Problem:
        """Only reached when a hash failed: now it is worth parsing the JSON to say how."""
        where = f"Entry {row.seq} of chain {self.chain}"
        try:
            data = json.loads(row.canonical)
            claimed_chain, claimed_seq = data["chain"], data["seq"]
        except (ValueError, KeyError, TypeError):
            claimed_chain, claimed_seq = self.chain, row.seq
        if claimed_chain != self.chain:
            return Problem(self.chain, row.seq, row.id, "inserted",
                           f"{where} was inserted: its content belongs to another chain.")
        if claimed_seq != row.seq:
            if isinstance(claimed_seq, int) and claimed_seq < row.seq:
                return Problem(self.chain, row.seq, row.id, "inserted",
                               f"{where} holds entry {claimed_seq}: something was inserted before it.")
            return Problem(self.chain, row.seq, row.id, "reordered",
                           f"{where} holds entry {claimed_seq}: entries were reordered or removed and "
                           "renumbered.")
        return Problem(self.chain, row.seq, row.id, "edited",
                       f"{where} was edited: its content or columns no longer match its hash.")


def _entry_batches(db: Session, chain: str | None, batch: int) -> Iterator[list]:
    """Rows in (chain, seq) order, ``batch`` at a time by keyset: memory stays flat at any size."""
    last_chain, last_seq = (chain or ""), 0
    columns = _verify_columns(db.get_bind().dialect.name)
    while True:
        stmt = select(*columns).order_by(_entries.c.chain, _entries.c.seq).limit(batch)
        if chain is not None:
            stmt = stmt.where(_entries.c.chain == chain, _entries.c.seq > last_seq)
        else:
            stmt = stmt.where(tuple_(_entries.c.chain, _entries.c.seq) > tuple_(last_chain, last_seq))
        rows = db.execute(stmt).all()
        if not rows:
            return
        yield rows
        last_chain, last_seq = rows[-1].chain, rows[-1].seq


class _Heads:
    """Heads in chain order, read lazily by keyset alongside the entries."""

    def __init__(self, db: Session, chain: str | None, batch: int):
        self.db, self.chain, self.batch = db, chain, batch
        self.buffer: list = []
        self.last = None
        self.done = False

    def _fill(self) -> None:
        stmt = select(_heads.c.chain, _heads.c.seq, _heads.c.head_hash).order_by(_heads.c.chain).limit(self.batch)
        if self.chain is not None:
            stmt = stmt.where(_heads.c.chain == self.chain)
        if self.last is not None:
            stmt = stmt.where(_heads.c.chain > self.last)
        rows = self.db.execute(stmt).all()
        self.buffer = list(reversed(rows))
        self.done = len(rows) < self.batch
        if rows:
            self.last = rows[-1].chain

    def peek(self):
        if not self.buffer and not self.done:
            self._fill()
        return self.buffer[-1] if self.buffer else None

    def pop(self):
        head = self.peek()
        self.buffer.pop()
        return head


def _fresh_head(db: Session, chain: str):
    return db.execute(select(_heads.c.chain, _heads.c.seq, _heads.c.head_hash)
                      .where(_heads.c.chain == chain)).one_or_none()


def _close(db: Session, state: _Chain, head, batch: int) -> Problem | None:
    """Check that the chain ends where ``ledger_heads`` says.

    Tolerates appends committed while verifying (PostgreSQL's READ COMMITTED lets each statement
    see newer rows): a head that looks behind the entries is re-read, and entries missing below the
    head are re-read after it. An entry and its head commit together, so after those re-reads any
    disagreement left is tampering, not timing.
    """
    if head is None or head.seq < state.seq:
        head = _fresh_head(db, state.chain)
    if head is None or head.seq < state.seq:
        seq = (head.seq if head else 0) + 1
        return Problem(state.chain, seq, None, "inserted",
                       f"Chain {state.chain} has entries beyond its recorded head "
                       f"(entry {seq} onwards was added outside the ledger).")
    while state.seq < head.seq:
        rows = db.execute(select(*_verify_columns(db.get_bind().dialect.name))
                          .where(_entries.c.chain == state.chain, _entries.c.seq > state.seq,
                                 _entries.c.seq <= head.seq)
                          .order_by(_entries.c.seq).limit(batch)).all()
        if not rows:
            return Problem(state.chain, state.seq + 1, None, "deleted",
                           f"Entry {state.seq + 1} of chain {state.chain} is missing: the chain ends at "
                           f"{state.seq}, its head says {head.seq}.")
        for row in rows:
            problem = state.feed(row)
            if problem:
                return problem
    if state.hash != head.head_hash:
        return Problem(state.chain, head.seq, None, "head_mismatch",
                       f"Entry {head.seq} of chain {state.chain} does not match the recorded head: "
                       "the newest entry was replaced.")
    return None


#: The whole-ledger check, set-wise, for PostgreSQL: the same hash as :func:`entry_hash` over the
#: same columns and stored bytes (``at`` formatted as in :func:`_verify_columns`), computed by the
#: server in parallel scans; then every entry's link to its predecessor (a missing predecessor is
#: a deletion); then every chain's last entry against its head. Each query counts what is wrong.
_PG_BAD_HASHES = text("""
    SELECT count(*) AS entries,
           count(*) FILTER (WHERE encode(sha256(convert_to(
               e.prev_hash || E'\\n' || e.chain || E'\\n' || e.seq || E'\\n' || e.type || E'\\n' || e.actor || E'\\n'
               || e.actor_role || E'\\n' || coalesce(e.vendor_app, '') || E'\\n'
               || to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\\n', 'UTF8')
               || e.canonical), 'hex') <> e.entry_hash) AS bad
    FROM ledger_entries e""")
_PG_BAD_LINKS = text("""
    SELECT count(*) FROM ledger_entries a
    LEFT JOIN ledger_entries b ON b.chain = a.chain AND b.seq = a.seq - 1
    WHERE (a.seq = 1 AND a.prev_hash <> :genesis)
       OR (a.seq <> 1 AND b.entry_hash IS DISTINCT FROM a.prev_hash)""")
_PG_BAD_HEADS = text("""
    SELECT count(*) FILTER (WHERE h.seq IS DISTINCT FROM m.seq OR h.head_hash IS DISTINCT FROM e.entry_hash),
           count(*)
    FROM ledger_heads h
    FULL JOIN (SELECT chain, max(seq) AS seq FROM ledger_entries GROUP BY chain) m ON m.chain = h.chain
    LEFT JOIN ledger_entries e ON e.chain = m.chain AND e.seq = m.seq""")


def _verify_in_postgres(db: Session) -> VerifyResult | None:
    """The whole ledger checked by set-wise queries; ``None`` when anything is off, so that the
    entry-by-entry walk finds the first problem and says what it is.

    The walk fetches and hashes every row in Python (~170k entries/s here); these three queries
    let PostgreSQL hash in parallel workers (several times faster) and move only counts. Any
    change the walk reports changes one of these counts, so a clean answer here is the walk's
    clean answer: tests/consent/test_ledger.py runs every tampering case through both.
    """
    entries, bad_hashes = db.execute(_PG_BAD_HASHES).one()
    if bad_hashes:
        return None
    if db.execute(_PG_BAD_LINKS, {"genesis": GENESIS}).scalar_one():
        return None
    bad_heads, chains = db.execute(_PG_BAD_HEADS).one()
    if bad_heads:
        return None
    return VerifyResult(True, entries, chains, None)


def verify(db: Session, chain: str | None = None, *, batch: int = 5000, walk: bool = False) -> VerifyResult:
    """Recompute every hash of one chain (or all), and stop at the first problem.

    Streams in keyset batches (memory stays flat for tens of millions of entries) and hashes the
    stored bytes. Checks seq continuity (a gap is a deletion), each hash and its link to the
    previous one, and that each chain ends at its ``ledger_heads`` row. Run it in a transaction
    of its own: on SQLite that transaction holds the write lock while it runs.

    On PostgreSQL the whole ledger is first checked set-wise (:func:`_verify_in_postgres`); the
    walk runs only to locate and explain a problem, or when ``walk`` asks for it.
    """
    if chain is None and not walk and db.get_bind().dialect.name == "postgresql":
        fast = _verify_in_postgres(db)
        if fast is not None:
            return fast
    heads = _Heads(db, chain, batch)
    done = _Tally()
    state: _Chain | None = None

    def finish(state: _Chain, head) -> Problem | None:
        problem = _close(db, state, head, batch)
        done.add(state)
        return problem

    def close_until(until: str | None) -> Problem | None:
        """Close ``state``'s chain, and any chain whose head comes before ``until`` but that has
        no entries at all (every entry of it is gone)."""
        if state is not None:
            head = heads.pop() if (h := heads.peek()) is not None and h.chain == state.chain else None
            problem = finish(state, head)
            if problem:
                return problem
        while (head := heads.peek()) is not None and (until is None or head.chain < until):
            heads.pop()
            problem = finish(_Chain(head.chain), head)
            if problem:
                return problem
        return None

    for rows in _entry_batches(db, chain, batch):
        for row in rows:
            if state is None or row.chain != state.chain:
                problem = close_until(row.chain)
                if problem:
                    return done.result(problem)
                state = _Chain(row.chain)
            problem = state.feed(row)
            if problem:
                done.add(state)
                return done.result(problem)
    return done.result(close_until(None))


class _Tally:
    def __init__(self):
        self.checked = self.chains = 0

    def add(self, state: _Chain) -> None:
        self.checked += state.checked
        self.chains += 1

    def result(self, problem: Problem | None) -> VerifyResult:
        return VerifyResult(problem is None, self.checked, self.chains, problem)


# -- checkpoints -------------------------------------------------------------------------------

def checkpoint(db: Session, signing_keyring: SigningKeyring, now: datetime | None = None) -> Checkpoint:
    """Sign the current head of every chain with the vault's signing key (flushed, not committed).

    A checkpoint pins history: deleting the newest entries of a chain and rewinding its head, or
    rewriting a chain wholesale, leaves a signed (seq, hash) that no longer exists. Heads are read
    in one statement, so they are one consistent moment. Publish or archive checkpoints outside
    the database too: the signature stops forgery, not deletion of the checkpoint row itself.
    """
    now = as_utc(now) if now is not None else utcnow()
    heads = {}
    entries = 0
    for row in db.execute(select(_heads.c.chain, _heads.c.seq, _heads.c.head_hash)
                          .where(_heads.c.seq > 0).order_by(_heads.c.chain)):
        heads[row.chain] = [row.seq, row.head_hash]
        entries += row.seq
    payload = canonical_json({"created_at": _iso(now), "heads": heads, "chains": len(heads), "entries": entries})
    kid, signature = signing_keyring.sign(payload)
    record = Checkpoint(created_at=now, kid=kid, signature=signature, payload=payload)
    db.add(record)
    db.flush()
    return record


def _checkpoint_problems(db: Session, cp: Checkpoint, heads: Sequence[tuple[str, int, str]]) -> Problem | None:
    found = {(r.chain, r.seq): r for r in db.execute(
        select(_entries.c.id, _entries.c.chain, _entries.c.seq, _entries.c.entry_hash)
        .where(tuple_(_entries.c.chain, _entries.c.seq).in_([(c, s) for c, s, _ in heads])))}
    for chain, seq, digest in heads:
        row = found.get((chain, seq))
        if row is None:
            return Problem(chain, seq, None, "deleted",
                           f"Entry {seq} of chain {chain}, signed in checkpoint {cp.id}, no longer exists.",
                           checkpoint_id=cp.id)
        if row.entry_hash != digest:
            return Problem(chain, seq, row.id, "edited",
                           f"Entry {seq} of chain {chain} differs from the one signed in checkpoint {cp.id}: "
                           "the chain was rewritten.", checkpoint_id=cp.id)
    return None


def verify_checkpoints(db: Session, signing_keyring: SigningKeyring, chain: str | None = None, *,
                       batch: int = 500) -> VerifyResult:
    """Every checkpoint's signature verifies, and every head it signed still exists unchanged.

    ``checked`` counts checkpoints, ``chains`` the heads looked up. Cost grows with checkpoints x
    chains; with ``chain`` only that chain's heads are looked up (signatures are always checked).
    """
    checked = looked_up = 0
    last_id = 0
    while True:
        cps = db.scalars(select(Checkpoint).where(Checkpoint.id > last_id).order_by(Checkpoint.id)
                         .limit(100)).all()
        if not cps:
            return VerifyResult(True, checked, looked_up)
        for cp in cps:
            last_id = cp.id
            if not signing_keyring.verify(cp.kid, cp.payload, cp.signature):
                return VerifyResult(False, checked, looked_up, Problem(
                    None, None, None, "bad_signature",
                    f"Checkpoint {cp.id} is not signed by any key of the vault (forged or altered).",
                    checkpoint_id=cp.id))
            items = [(c, s, h) for c, (s, h) in cp.heads.items() if chain is None or c == chain]
            for start in range(0, len(items), batch):
                part = items[start:start + batch]
                problem = _checkpoint_problems(db, cp, part)
                if problem:
                    return VerifyResult(False, checked, looked_up, problem)
                looked_up += len(part)
            checked += 1
            db.expunge(cp)


# -- reading -----------------------------------------------------------------------------------

def _filtered(stmt, types, vendor_app):
    if types:
        stmt = stmt.where(LedgerEntry.type.in_(list(types)))
    if vendor_app is not None:
        stmt = stmt.where(LedgerEntry.vendor_app == vendor_app)
    return stmt


def entries_for(db: Session, chain: str, *, types: Iterable[str] | None = None, vendor_app: str | None = None,
                before_id: int | None = None, limit: int = 50) -> list[LedgerEntry]:
    """One chain, newest first, ``limit`` at a time; pass the last id shown as ``before_id``.

    Within a chain ids and seqs rise together (appends are serialised), so paging walks the
    (chain, seq) index backwards instead of scanning by id.
    """
    stmt = _filtered(select(LedgerEntry).where(LedgerEntry.chain == chain), types, vendor_app)
    if before_id is not None:
        stmt = stmt.where(LedgerEntry.seq < select(LedgerEntry.seq).where(
            LedgerEntry.id == before_id, LedgerEntry.chain == chain).scalar_subquery())
    return list(db.scalars(stmt.order_by(LedgerEntry.seq.desc()).limit(limit)))


def iter_chain(db: Session, chain: str, *, batch: int = 1000) -> Iterator[LedgerEntry]:
    """A whole chain, oldest first, read in batches (the customer's export)."""
    last = 0
    while True:
        rows = db.scalars(select(LedgerEntry).where(LedgerEntry.chain == chain, LedgerEntry.seq > last)
                          .order_by(LedgerEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def search(db: Session, *, chain: str | None = None, vendor_app: str | None = None,
           types: Iterable[str] | None = None, start: datetime | None = None, end: datetime | None = None,
           before_id: int | None = None, limit: int = 50) -> list[LedgerEntry]:
    """Entries for privacy officers, newest first: by customer, app, type and time [start, end).

    Ordered by (created_at, id) so the (vendor_app, created_at) and (type, created_at) indexes
    serve it; ``before_id`` continues after the last row shown.
    """
    if chain is not None:
        stmt = select(LedgerEntry).where(LedgerEntry.chain == chain)
    else:
        stmt = select(LedgerEntry)
    stmt = _filtered(stmt, types, vendor_app)
    if start is not None:
        stmt = stmt.where(LedgerEntry.created_at >= start)
    if end is not None:
        stmt = stmt.where(LedgerEntry.created_at < end)
    if before_id is not None:
        anchor = select(LedgerEntry.created_at).where(LedgerEntry.id == before_id).scalar_subquery()
        stmt = stmt.where(tuple_(LedgerEntry.created_at, LedgerEntry.id) < tuple_(anchor, before_id))
    return list(db.scalars(stmt.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(limit)))
