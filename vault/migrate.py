"""Run the Alembic migrations programmatically (start-up, CLI and tests share this).

The schema is only ever built by migrations, never ``create_all``, so what tests run against is
exactly what production upgrades to.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
#: Any constant: two app servers starting together must not both run the same migration.
_PG_LOCK_ID = 727_466_111


def alembic_config(connection=None, keys=None) -> Config:
    """``keys`` (a :class:`vault.keys.service.KeyService`) is for revisions that move data into
    sealed form, such as 0014 (login addresses); they refuse to run over rows without it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["keys"] = keys
    return cfg


@contextmanager
def _locked(engine: Engine):
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_ID})
            conn.commit()
        try:
            with _sqlite_foreign_keys_off(conn):
                yield conn
        finally:
            if conn.dialect.name == "postgresql":
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_ID})
                conn.commit()


@contextmanager
def _sqlite_foreign_keys_off(conn):
    """SQLite alters a table by rebuilding it (Alembic's batch mode): copy, ``DROP TABLE``, rename.
    With foreign keys on, that ``DROP`` deletes every row that refers to the table ``ON DELETE
    CASCADE`` (rebuilding ``accounts`` would empty data_keys, vault_records, grants...). Alembic's
    advice: enforcement off while migrating (the pragma only works outside a transaction, so it
    is set on the raw connection first), then ``foreign_key_check`` before the commit proves the
    rebuilt tables still fit together, then on again for whoever uses this pooled connection next."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.rollback()  # nothing after a commit; after a failure, the pragma below needs it
        raw.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(conn) -> None:
    if conn.dialect.name == "sqlite":
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            conn.rollback()
            raise RuntimeError(f"The migration would leave rows pointing at nothing: {broken[:5]}")


def upgrade(engine: Engine, revision: str = "head", *, keys=None) -> None:
    with _locked(engine) as conn:
        command.upgrade(alembic_config(conn, keys), revision)
        _check_foreign_keys(conn)
        conn.commit()


def downgrade(engine: Engine, revision: str, *, keys=None) -> None:
    with _locked(engine) as conn:
        command.downgrade(alembic_config(conn, keys), revision)
        _check_foreign_keys(conn)
        conn.commit()


def pending(engine: Engine) -> bool:
    """True when the database is not at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current != head
