"""The database: engine, sessions and the declarative base shared by every package.

SQLite (the embedded default) runs in WAL mode with foreign keys on. Writers are serialised
without sleeping (see :mod:`vault.sqlite_writer`): statements before a transaction's first write
read the newest committed data, as PostgreSQL's READ COMMITTED does; the first write takes a
writer lock shared by every process on the file, then ``BEGIN IMMEDIATE``, and the lock is let
go at commit or rollback. PostgreSQL needs nothing special here.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from .clock import as_utc
from .sqlite_writer import WriterLockedConnection

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, whatever the backend keeps (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        value = as_utc(value)
        if value is not None and dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return as_utc(value)


def is_sqlite(url_or_engine) -> bool:
    url = getattr(url_or_engine, "url", url_or_engine)
    return str(url).startswith("sqlite")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # The sqlite3 module never begins transactions itself: WriterLockedConnection does.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA busy_timeout = 10000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url`` with the per-backend settings above."""
    if is_sqlite(url):
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("factory", WriterLockedConnection)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0

#: When this process last saw a database connection die (``time.monotonic()``; 0: never).
_last_loss = 0.0


def note_connection_lost() -> None:
    """A statement found its connection dead: the server restarted or failed over, so every
    connection of this process that was opened or last used before now is suspect, however
    recently — each is pinged at its next checkout (``_ping_when_idle``), in every pool."""
    global _last_loss
    _last_loss = time.monotonic()


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that sat in the pool, not for busy ones.

    ``pool_pre_ping`` costs a round trip on every checkout — one more statement on every vendor
    read. A connection given back moments ago is almost surely alive, so only one idle for more
    than :data:`PING_AFTER_IDLE_SECONDS`, or last used before a loss this process has seen
    (:func:`note_connection_lost`), is pinged; a dead one is replaced before use (SQLAlchemy's
    documented checkout-event recipe: raising ``DisconnectionError`` makes the pool connect
    anew). A server lost within that second is found by the next statement instead; a request
    whose *first* statement finds it starts again on a new connection
    (:func:`retry_if_lost_at_start`), any other answers 503.
    """
    def _note_idle(_dbapi_connection, record):  # just connected or given back: alive now
        record.info["vv_idle_since"] = time.monotonic()

    event.listen(engine, "connect", _note_idle)
    event.listen(engine, "checkin", _note_idle)

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        since = record.info.get("vv_idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS and since > _last_loss:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            note_connection_lost()
            raise DisconnectionError(f"connection lost while idle: {type(exc).__name__}") from exc

    @event.listens_for(engine, "handle_error")
    def _note_loss(context):
        if context.is_disconnect:
            note_connection_lost()


def retry_if_lost_at_start(db, run: Callable[[], T]) -> T:
    """``run()`` — a request's first use of ``db`` — once more on a new connection if the pooled
    one it was given turns out dead (the server restarted within the idle ping window).

    Only a session that had begun nothing qualifies, and only a disconnect: whatever ``run``
    did died with the connection's transaction, so starting over loses and repeats nothing
    (``run`` must have no effect outside the database). A database still down fails the second
    attempt too, and the caller answers 503 as before.
    """
    if db.in_transaction():
        return run()
    try:
        return run()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        db.close()  # drops the dead connection; the session starts afresh on next use
        return run()


def make_session_factory(bind, *, info: dict | None = None, **options) -> sessionmaker[Session]:
    """``info`` is given to every session (an instance passes its login-email key this way)."""
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True, info=info, **options)


def make_statement_engine(engine: Engine) -> Engine | None:
    """A second engine on the same database whose connections are in autocommit from the start,
    for sessions in which every statement commits itself (PostgreSQL ``AUTOCOMMIT``): requests
    whose only write is one self-contained statement, such as a vendor read's ledger append
    (``vv_ledger_append``). That saves the BEGIN and COMMIT round trips of a transaction; the
    append is as durable as before.

    Its own pool, rather than ``engine.execution_options(isolation_level=...)`` on the shared
    one: that switches each connection into autocommit at checkout and back at checkin, ~1/10 of
    a vendor read's CPU (bench/RESULTS.md). SQLite runs in-process and needs none (``None``).
    """
    if is_sqlite(engine):
        return None
    return make_engine(engine.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")


class StatementSession:
    """What a statement-wise request (a vendor read) uses of a ``Session``, over one plain
    pooled ``Connection``: ``connection()``, Core ``execute``/``scalar``, ``commit``,
    ``rollback``, ``close``.

    The ORM session's own bookkeeping (state machine, identity map, autobegin) around one pool
    checkout cost a vendor read ~30 µs, more than its token look-up's SQL on SQLite
    (bench/RESULTS.md). There are no ORM objects here: ``get``, ``add`` and ``scalars`` of
    entities are deliberately absent, so a view that needs them fails loudly in its tests
    instead of quietly reading columns as objects.
    """

    __slots__ = ("_engine", "_connection")

    def __init__(self, engine: Engine):
        self._engine = engine
        self._connection = None

    def connection(self):
        connection = self._connection
        if connection is None:
            connection = self._connection = self._engine.connect()
            connection.begin()  # as Session does: commit() below then commits at the driver
        return connection

    def get_bind(self) -> Engine:
        return self._engine

    def execute(self, statement, params=None):
        return self.connection().execute(statement, params)

    def scalar(self, statement, params=None):
        return self.connection().scalar(statement, params)

    def in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction()

    def commit(self) -> None:
        if self._connection is not None:  # Connection.commit/rollback do nothing outside a transaction
            self._connection.commit()

    def rollback(self) -> None:
        if self._connection is not None:
            self._connection.rollback()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()  # rolls back whatever is still open, and checks the connection in


@contextmanager
def unit_of_work(sessions: sessionmaker) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back on any error: what a CLI
    command or one worker round needs (requests get theirs from the request context)."""
    db = sessions()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
