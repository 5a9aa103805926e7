"""SQLite writers, serialised without sleeping: a writer lock beside the database file.

SQLite allows one writer at a time. Left to itself, a second writer spins in SQLite's busy
handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries: under load that, not the work, set
the tail latency (p99 130-310 ms on the vendor read path, ARCHITECTURE.md). Here a transaction
takes an exclusive ``flock`` on ``<database>-writer.lock`` right before its first write, then
``BEGIN IMMEDIATE``; the next writer — a thread or another gunicorn worker process — waits in
the kernel and wakes the instant the lock is let go at ``COMMIT`` or ``ROLLBACK``.

Statements before a transaction's first write run outside any transaction and see the newest
committed data, as under PostgreSQL's READ COMMITTED, so a request that mostly reads (a vendor
read: token, grant, records) holds the writer lock only for its few writes and the commit.
Code that must not act on a stale read says so in its write (``UPDATE ... WHERE used_at IS
NULL``), which is what it needs on PostgreSQL anyway.

This is the sqlite3 module's own connection class (``sqlite3.connect(factory=...)``), so errors
stay driver errors that SQLAlchemy wraps as usual. Processes that do not use it (the sqlite3
shell, a backup) still meet SQLite's own locking and busy timeout: correctness never depends on
the file lock, only the waiting does.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

#: Statements that never begin a transaction: reads, and those SQLite refuses inside one.
_NO_BEGIN = ("SELECT", "PRAGMA", "EXPLAIN", "VACUUM", "ATTACH", "DETACH")
_ENDS = ("COMMIT", "END", "ROLLBACK")

#: Lock files this thread holds through one of its connections: a second connection of the same
#: thread must not wait for it (it never would be let go); it falls back to the busy timeout.
_held = threading.local()


def _head(sql: str) -> str:
    return sql.lstrip()[:10].upper()


def _lock_path(database: str) -> str | None:
    if not database or database == ":memory:" or database.startswith("file:") or "mode=memory" in database:
        return None
    return os.path.abspath(database) + "-writer.lock"


class _WriterLock:
    """One open file description per connection, so threads of one process exclude each other too."""

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None
        self.locked = False
        self._holders: dict | None = None

    def acquire(self) -> None:
        holders = getattr(_held, "paths", None)
        if holders is None:
            holders = _held.paths = {}
        if holders.get(self.path):
            return  # this thread writes through another connection: let SQLite say "locked"
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.locked, self._holders = True, holders
        holders[self.path] = holders.get(self.path, 0) + 1

    def release(self) -> None:
        if not self.locked:
            return
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.locked = False
        self._holders[self.path] -= 1  # the acquiring thread's count, whoever lets go

    def close(self) -> None:
        self.release()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Cursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        self.connection._before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection._after(sql)

    def executemany(self, sql, seq_of_parameters, /):
        self.connection._before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection._after(sql)


class WriterLockedConnection(sqlite3.Connection):
    """A sqlite3 connection whose first write takes the writer lock, then ``BEGIN IMMEDIATE``."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        path = _lock_path(os.fsdecode(database))
        self._writer = _WriterLock(path) if path else None

    def cursor(self, factory=_Cursor):
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def _before(self, sql: str) -> None:
        if self.in_transaction:
            return
        head = _head(sql)
        if head.startswith(_NO_BEGIN) or head.startswith(_ENDS):
            return
        if self._writer is not None:
            self._writer.acquire()
        if head.startswith("BEGIN"):
            return  # an explicit BEGIN of the caller's own: the lock is taken, let it run
        try:
            super().execute("BEGIN IMMEDIATE")
        except BaseException:
            self._let_go()
            raise

    def _after(self, sql: str) -> None:
        if not self.in_transaction:
            self._let_go()

    def _let_go(self) -> None:
        if self._writer is not None and not self.in_transaction:
            self._writer.release()

    def commit(self):
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self):
        try:
            super().close()
        finally:
            if self._writer is not None:
                self._writer.close()
