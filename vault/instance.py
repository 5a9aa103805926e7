"""Open one VRM Vault instance: folder, secret key, database, migrations, keys.

Shared by the web app, the CLI, the worker and the benchmarks. Every problem becomes a
:class:`ConfigError` with one sentence an operator can act on.
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from . import migrate
from .config import Settings
from .db import StatementSession, make_engine, make_session_factory, make_statement_engine
from .errors import ConfigError
from .keyops import has_wrapped_keys, sample_check, system_key
from .keys.local import create_private_file
from .keys.service import KeyService, open_key_service
from .keys.signing import SigningKeyring
from .login_emails import KEY_NAME, SESSION_INFO_KEY, LoginEmails

log = logging.getLogger("vault")


@dataclass
class Instance:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyService
    signing: SigningKeyring
    secret_key: str
    login_emails: LoginEmails
    _statement_engine: Engine | None = None

    def sessions_on(self, bind, **options) -> sessionmaker[Session]:
        """A session factory on another bind (a connection, another engine) whose sessions still
        carry this instance's login-email key, so ``Account.email`` can be read through them."""
        return make_session_factory(bind, info={SESSION_INFO_KEY: self.login_emails}, **options)

    def statement_session(self) -> Session | StatementSession:
        """A session for a statement-wise request (``vendor_api.context.statement_wise``): on
        PostgreSQL over an engine whose statements each commit alone
        (:func:`vault.db.make_statement_engine`); on SQLite over the ordinary engine. Either way
        a :class:`vault.db.StatementSession`, not an ORM session.

        Only while ``sessions`` is the instance's own: where it was rebound (the test suite binds
        it to one rolled-back transaction), statement-wise work goes there too.
        """
        if self.sessions.kw.get("bind") is not self.engine:
            return self.sessions()
        if self._statement_engine is None:
            self._statement_engine = make_statement_engine(self.engine) or self.engine
        return StatementSession(self._statement_engine)

    def dispose(self) -> None:
        """Close every pooled database connection of this instance (both engines)."""
        if self._statement_engine is not None and self._statement_engine is not self.engine:
            self._statement_engine.dispose()
        self.engine.dispose()


def _ensure_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError:
        raise ConfigError(f"The instance folder {path} cannot be created or written: "
                          "check its permissions or set VAULT_INSTANCE_PATH.") from None


def _secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = settings.instance_path / "secret_key"
    if create_private_file(path, secrets.token_urlsafe(48)):
        log.info("Generated a secret key at %s (mode 0600).", path)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError:
        raise ConfigError(f"The secret key file {path} cannot be read.") from None
    if len(value) < 32:
        raise ConfigError(f"The secret key in {path} is too short (under 32 characters).")
    return value


def safe_url(url: str) -> str:
    """The database URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is itself the problem being reported
        return "<unparsable URL>"


def _create_sqlite_file_privately(url: str) -> None:
    """Create a new SQLite file as 0600 before SQLite does (it would follow the umask, usually
    0644); its -wal and -shm files take the database file's mode. Values are encrypted, but the
    ledger, ids and metadata are not anyone else's to read."""
    made = make_url(url)
    if made.get_backend_name() != "sqlite" or not made.database or made.database == ":memory:":
        return
    path = Path(made.database)
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _open_database(settings: Settings) -> Engine:
    url = settings.effective_database_url
    try:
        _create_sqlite_file_privately(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, SQLAlchemyError, ImportError, ValueError) as exc:
        reason = getattr(exc, "orig", None) or exc
        first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        raise ConfigError(f"Cannot use the database at {safe_url(url)}: {first_line}") from None
    return engine


def _signing(settings: Settings) -> SigningKeyring:
    if settings.signing_keys:
        return SigningKeyring.from_env(settings.signing_keys)
    return SigningKeyring.load_or_create(settings.effective_signing_key_path)


def _prepare(settings: Settings, engine: Engine) -> tuple[KeyService, LoginEmails]:
    """Open the keys, refusing keys that do not fit the data, then bring the schema up to date.

    Keys first: a migration may seal data that was stored in the clear (0014, login addresses),
    and nothing should be migrated under a keyring that is not this data's.
    """
    with make_session_factory(engine)() as db:
        existing_data = "data_keys" in inspect(engine).get_table_names() and has_wrapped_keys(db)
        keys = open_key_service(settings, may_create=not existing_data)
        if existing_data and (problem := sample_check(db, keys)):
            raise ConfigError(problem + " Start with the keyring this data was written with.")
    if settings.auto_migrate:
        try:
            migrate.upgrade(engine, keys=keys)
        except SQLAlchemyError as exc:
            raise ConfigError(f"Migrating the database failed: {str(exc).splitlines()[0]}") from None
    elif migrate.pending(engine):
        raise ConfigError("The database is not at the newest schema: run `flask --app wsgi vault db upgrade`.")
    with engine.begin() as conn:
        login_emails = LoginEmails(system_key(conn, keys, KEY_NAME))
    return keys, login_emails


def open_instance(settings: Settings) -> Instance:
    _ensure_folder(settings.instance_path)
    secret = _secret_key(settings)
    engine = _open_database(settings)
    log.info("Database: %s", safe_url(settings.effective_database_url))
    try:
        keys, login_emails = _prepare(settings, engine)
    except BaseException:
        engine.dispose()
        raise
    return Instance(settings=settings, engine=engine,
                    sessions=make_session_factory(engine, info={SESSION_INFO_KEY: login_emails}), keys=keys,
                    signing=_signing(settings), secret_key=secret, login_emails=login_emails)
