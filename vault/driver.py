"""Hot-path statements run straight on the DBAPI cursor: compiled once per dialect, no execution
context, no result metadata.

Executing an already-compiled Core statement through SQLAlchemy still costs ~15 µs on SQLite
and ~100 µs of CPU on PostgreSQL per call here (cache key, execution context, building result
metadata from ``cursor.description`` — psycopg makes a column object per column per call): most
of a vendor read's database time (bench/RESULTS.md). The few statements every vendor read runs
(token look-up, ciphertexts, ledger append) are still written as Core, against the models, but
executed here: on the session's own DBAPI connection, so they are part of its transaction (and
of SQLite's writer lock), with the column types' own bind and result processors, and with DBAPI
errors raised as SQLAlchemy's (a lost connection is invalidated in the pool; the outage answer,
503, is the same). ``before_cursor_execute`` listeners still see every statement.

Only plain statements qualify: no expanding ``IN`` parameters, no executemany.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from .db import note_connection_lost


@dataclass(frozen=True)
class _Plan:
    sql: str
    compiled: Any
    positional: tuple[str, ...] | None  # names in order for qmark drivers (SQLite); None: named (psycopg)
    bind: tuple[tuple[str, Callable], ...]
    result: tuple[Callable | None, ...]
    returns_rows: bool
    convert_rows: bool


class DriverStatement:
    """A Core statement executed on the DBAPI cursor of a SQLAlchemy connection."""

    def __init__(self, statement):
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect)
            if any(b.expanding for b in compiled.binds.values()):
                raise ValueError("DriverStatement cannot run statements with expanding parameters.")
            bind = []
            for name, param in compiled.binds.items():
                processor = param.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    bind.append((name, processor))
            columns = getattr(self.statement, "selected_columns", None)
            if columns is None:  # INSERT/UPDATE ... RETURNING
                columns = getattr(self.statement, "_returning", ()) or ()
            result = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
            positional = tuple(compiled.positiontup) if compiled.positional else None
            plan = _Plan(compiled.string, compiled, positional, tuple(bind), result, bool(result),
                         any(p is not None for p in result))
            self._plans[dialect.name] = plan
        return plan

    def execute(self, connection: Connection, params: dict | None = None) -> list[tuple]:
        """Run once with ``params``; returns the rows (empty for a statement without any)."""
        dialect = connection.dialect
        plan = self._plan(dialect)
        values = plan.compiled.construct_params(params or {})
        for name, processor in plan.bind:
            values[name] = processor(values[name])
        parameters = tuple(values[name] for name in plan.positional) if plan.positional is not None else values
        for listener in connection.dispatch.before_cursor_execute:
            listener(connection, None, plan.sql, parameters, None, False)
        dbapi_connection = connection.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, parameters)
            rows = cursor.fetchall() if plan.returns_rows else []
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if lost:
                note_connection_lost()  # as SQLAlchemy's own execution does (handle_error, vault.db)
                connection.invalidate(exc)
            raise DBAPIError.instance(plan.sql, parameters, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from exc
        finally:
            cursor.close()
        if plan.convert_rows:
            processors = plan.result
            rows = [tuple(value if p is None else p(value) for p, value in zip(processors, row)) for row in rows]
        return rows

    def first(self, connection: Connection, params: dict | None = None) -> tuple | None:
        rows = self.execute(connection, params)
        return rows[0] if rows else None
