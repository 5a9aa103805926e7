"""Shared fixtures: one migrated database per test session, a savepoint per test.

Tests run on SQLite by default and on PostgreSQL when ``VAULT_TEST_DATABASE_URL`` is set. On
PostgreSQL each test session works in a schema of its own (dropped at the end), so runs never
see each other's rows. Each test's app is bound to one connection inside a transaction that is
rolled back afterwards: commits made by views become savepoint releases.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import text

from vault import login_emails, migrate
from vault.db import make_engine

PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "").strip()
STRONG_PASSWORD = "correct horse battery staple"


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


class EmptyDatabase:
    """A new, empty database: a SQLite file, or a PostgreSQL schema dropped on ``drop()``."""

    def __init__(self, folder: Path):
        if PG_URL:
            self.schema = "vault_test_" + secrets.token_hex(4)
            self._admin = make_engine(PG_URL)
            with self._admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            self.url = _with_schema(PG_URL, self.schema)
        else:
            self.schema = None
            self.url = f"sqlite:///{folder / 'vault.sqlite3'}"

    def migrate(self) -> "EmptyDatabase":
        engine = make_engine(self.url)
        migrate.upgrade(engine)
        engine.dispose()
        return self

    def drop(self) -> None:
        if self.schema:
            with self._admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self._admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A migrated, empty database for this test session."""
    database = EmptyDatabase(tmp_path_factory.mktemp("db")).migrate()
    yield database.url
    database.drop()


@pytest.fixture
def fresh_database(tmp_path):
    """An empty, unmigrated database of the test's own, for tests that must really commit."""
    database = EmptyDatabase(tmp_path)
    yield database
    database.drop()


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory) -> Path:
    """One instance folder (keyring, signing keys, secret) shared by the session's apps."""
    return tmp_path_factory.mktemp("instance")


def lookup(db, address: str) -> str:
    """The keyed hash an address is stored under: how a test finds a row by its login address."""
    return login_emails.of_session(db).lookup(address)


def query_plan(db, query) -> str:
    """The plan the database would use for ``query`` (PostgreSQL with sequential scans priced
    out: with a handful of rows a planner rightly prefers a scan, and the question is whether an
    index *can* serve it)."""
    conn = db.connection()
    compiled = query.compile(conn)
    processors = compiled._bind_processors
    params = {k: processors[k](v) if k in processors else v for k, v in compiled.construct_params().items()}
    if compiled.positional:
        params = tuple(params[k] for k in compiled.positiontup)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + compiled.string, params))
    return "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, params))


def make_test_app(database_url: str, instance_path: Path, **overrides):
    from web import create_app
    config = {"database_url": database_url, "instance_path": instance_path, "auto_migrate": False,
              "TESTING": True, "log_level": "WARNING"}
    config.update(overrides)
    return create_app(config)


def demo_customer(app, email: str) -> dict:
    """A customer who granted the demo app, committed for real: what ``vault demo --json`` gives
    (``access_token``, ``client_id``, ``client_secret``...) plus the customer's ledger ``chain``.
    For tests on an app of their own whose requests must see committed data."""
    from vault import accounts
    from vendor_api.cli import demo_step

    inst = app.extensions["vrm"]
    with app.test_request_context(), inst.sessions() as db:
        customer = accounts.sign_up(db, email, STRONG_PASSWORD)
        demo = demo_step(db, inst, customer)
        db.commit()
        return {**demo, "chain": customer.public_id}


def rolled_back(application):
    """Yields ``application`` with every database session inside one transaction, rolled back
    afterwards (a fixture's body: ``yield from rolled_back(make_test_app(...))``)."""
    inst = application.extensions["vrm"]
    conn = inst.engine.connect()
    outer = conn.begin()
    inst.sessions = inst.sessions_on(conn, join_transaction_mode="create_savepoint")
    yield application
    outer.rollback()
    conn.close()
    inst.dispose()


@pytest.fixture
def app(database_url, instance_path):
    """An app whose every database session lives inside one rolled-back transaction."""
    yield from rolled_back(make_test_app(database_url, instance_path))


@pytest.fixture
def db(app):
    """A session on the test's transaction, for arranging data and asserting on what is stored."""
    session = app.extensions["vrm"].sessions()
    yield session
    session.close()


@pytest.fixture
def keys(app):
    return app.extensions["vrm"].keys


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


class Portal:
    """Drives the portal like a browser would: fetch the form, post it with its CSRF token."""

    def __init__(self, client):
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def post(self, path: str, data: dict, *, form_path: str | None = None, **kwargs):
        data = {"csrf_token": self.token(form_path or path), **data}
        return self.client.post(path, data=data, **kwargs)

    def signup(self, email: str, password: str = STRONG_PASSWORD):
        return self.post("/signup", {"email": email, "password": password, "password_confirm": password})

    def login(self, email: str, password: str = STRONG_PASSWORD, **kwargs):
        return self.post("/login", {"email": email, "password": password}, **kwargs)

    def logout(self):
        return self.post("/logout", {}, form_path="/me/")


@pytest.fixture
def portal(client):
    return Portal(client)


@pytest.fixture
def customer(db):
    """A customer account (committed to the test transaction) with the standard password."""
    from vault.accounts import sign_up
    account = sign_up(db, f"customer-{secrets.token_hex(4)}@example.com", STRONG_PASSWORD)
    db.commit()
    return account
