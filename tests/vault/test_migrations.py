"""Migrations build the schema from nothing, and the models and migrations agree."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vault import migrate
from vault.db import Base, make_engine


def _load_all_models():
    """Every package's tables, so the comparison sees the whole schema whatever ran before."""
    import importlib
    import pkgutil

    for package in ("vault", "consent", "vendor_api", "web"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)


def test_upgrade_builds_an_empty_database_and_downgrade_removes_it(fresh_database):
    engine = make_engine(fresh_database.url)
    migrate.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"accounts", "data_keys", "vault_records", "login_sessions", "alembic_version"} <= tables
    assert not migrate.pending(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


# SQLite cannot reflect an index on an expression (ix_oauth_tokens_usable_until); PostgreSQL
# can, and compares it: the PostgreSQL run is where that index is checked.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_models_match_the_migrations(database_url):
    _load_all_models()
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []
