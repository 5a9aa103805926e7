"""Statements run on the DBAPI cursor answer exactly as SQLAlchemy would, inside the same
transaction, and fail the way SQLAlchemy fails (on SQLite and, with VAULT_TEST_DATABASE_URL,
on PostgreSQL)."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError

from consent.ledger import LedgerEntry, LedgerHead
from vault.driver import DriverStatement
from vault.models import Account

MOMENT = datetime(2026, 5, 17, 8, 30, 0, 125, tzinfo=timezone.utc)
_H = LedgerHead.__table__
_E = LedgerEntry.__table__


def test_rows_and_types_match_what_sqlalchemy_returns(db, customer):
    stmt = select(Account.__table__.c.id, Account.__table__.c.public_id, Account.__table__.c.created_at) \
        .where(Account.__table__.c.id == bindparam("id"))
    conn = db.connection()
    assert DriverStatement(stmt).execute(conn, {"id": customer.id}) == [tuple(conn.execute(stmt, {"id": customer.id}).one())]
    created = DriverStatement(stmt).first(conn, {"id": customer.id})[2]
    assert created.tzinfo is not None  # UTCDateTime's own result processing ran
    assert DriverStatement(stmt).first(conn, {"id": -1}) is None


def test_bind_processors_run_and_writes_join_the_sessions_transaction(db):
    add = DriverStatement(insert(_E).values(
        {c.name: bindparam(c.name, type_=c.type) for c in _E.c if c.name != "id"}).returning(_E.c.id))
    row = dict(chain="c_driver", seq=1, prev_hash="0" * 64, entry_hash="a" * 64, canonical=b"{}", type="read",
               actor="x", actor_role="vendor", vendor_app=None, created_at=MOMENT)
    (entry_id,) = add.first(db.connection(), row)
    stored = db.get(LedgerEntry, entry_id)
    assert stored.created_at == MOMENT and bytes(stored.canonical) == b"{}"
    db.rollback()  # the insert was part of the session's transaction: gone with it
    assert db.get(LedgerEntry, entry_id) is None


def test_statements_with_expanding_parameters_are_refused(db):
    stmt = select(_H.c.chain).where(_H.c.chain.in_(bindparam("chains", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        DriverStatement(stmt).execute(db.connection(), {"chains": ["a"]})


def test_database_errors_arrive_as_sqlalchemy_errors(db):
    put = DriverStatement(insert(_H).values(chain=bindparam("chain"), seq=1, head_hash="0" * 64))
    put.execute(db.connection(), {"chain": "c_twice"})
    with pytest.raises(IntegrityError):  # what web.errors and every caller already handle
        put.execute(db.connection(), {"chain": "c_twice"})
    db.rollback()


def test_cursor_listeners_still_see_each_statement(db):
    seen = []
    conn = db.connection()
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(conn, "before_cursor_execute", listener)
    try:
        DriverStatement(select(_H.c.chain).where(_H.c.chain == bindparam("c"))).execute(conn, {"c": "x"})
    finally:
        event.remove(conn, "before_cursor_execute", listener)
    assert len(seen) == 1 and "ledger_heads" in seen[0]
