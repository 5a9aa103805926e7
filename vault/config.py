"""Settings of one VRM Vault instance, read from ``VAULT_*`` environment variables.

Order of precedence: built-in defaults, then the environment, then explicit overrides (the
test suite and ``create_app(config)``). Everything here is plain data: no Flask, no I/O beyond
reading the environment, so the CLI, the worker and the tests build the same settings.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

ENV_PREFIX = "VAULT_"
KEY_PROVIDERS = ("local", "env")


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}.")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a whole number, not {raw!r}.") from None


@dataclass(frozen=True)
class Settings:
    """Every knob of an instance. Field names map to ``VAULT_<NAME>`` variables."""

    #: "development" (the default: embedded SQLite, cookies allowed over plain http on
    #: loopback) or "production" (requires an explicit secret key and database URL).
    env: str = "development"
    #: Folder for the SQLite database, the generated secret key and the local keyrings.
    instance_path: Path = field(default_factory=lambda: Path.cwd() / "instance")
    #: SQLAlchemy URL; empty means ``sqlite:///<instance_path>/vault.sqlite3``.
    database_url: str = ""
    #: Flask secret key; empty means generate one into the instance folder on first run.
    secret_key: str = ""
    #: Where key-encryption keys come from: "local" (a keyring file) or "env".
    key_provider: str = "local"
    #: The local keyring file; empty means ``<instance_path>/keyring.json``.
    keyring_path: str = ""
    #: With key_provider=env: the keyring JSON itself (see README).
    keyring: str = ""
    #: Ed25519 signing keys (receipts, ledger checkpoints): a file, or the JSON in the env.
    signing_key_path: str = ""
    signing_keys: str = ""
    #: Storage for rate limits and login throttling: memory:// or a redis:// URL.
    ratelimit_storage_url: str = "memory://"
    #: Portal sessions end after this much inactivity, and after this much time in any case.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    #: Run pending migrations at start-up (safe with several workers: PostgreSQL takes a lock).
    auto_migrate: bool = True
    #: Public base URL, used as the OAuth issuer and in receipts; empty means the request host.
    base_url: str = ""
    #: How many reverse proxies sit in front and set X-Forwarded-For/-Proto/-Host (0: none is
    #: trusted). Client addresses feed the login throttle, so trust exactly as many as exist.
    proxy_hops: int = 0
    log_level: str = "INFO"
    #: Outgoing mail (notifications). No SMTP host: each message is written as an .eml file
    #: under ``<instance_path>/outbox/`` instead, so nothing is lost in development.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "VRM Vault <no-reply@vrm-vault.localhost>"
    #: Require a server-issued nonce in DPoP proofs (RFC 9449 §8, §9): proofs cannot be made
    #: ahead of time, at the price of one refused round trip per client now and then.
    dpop_nonce: bool = False
    #: SMS: "log" (logs that a text went to a masked number; for development) or "http" (POST
    #: JSON to ``sms_url`` with ``Authorization: Bearer <sms_key>``).
    sms_gateway: str = "log"
    sms_url: str = ""
    sms_key: str = ""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None,
             overrides: Mapping[str, object] | None = None) -> "Settings":
        """Build settings from the environment and overrides, checking what can be checked early."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            if f.type in ("bool", bool):
                values[f.name] = _bool(f.name, raw)
            elif f.type in ("int", int):
                values[f.name] = _int(f.name, raw)
            elif f.type in ("Path", Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        known = {f.name for f in fields(cls)}
        for key, value in (overrides or {}).items():
            name = key.lower()
            if name.startswith("vault_"):
                name = name[len("vault_"):]
            if name in known:
                values[name] = Path(value) if name == "instance_path" else value
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.env not in ("development", "production"):
            raise ConfigError("VAULT_ENV must be 'development' or 'production'.")
        if self.key_provider not in KEY_PROVIDERS:
            raise ConfigError(
                f"VAULT_KEY_PROVIDER must be one of {', '.join(KEY_PROVIDERS)}, not {self.key_provider!r}.")
        if self.key_provider == "env" and not self.keyring:
            raise ConfigError("VAULT_KEY_PROVIDER is 'env' but VAULT_KEYRING is empty.")
        if self.production and not self.secret_key:
            raise ConfigError("In production VAULT_SECRET_KEY must be set (a long random string).")
        if self.production and not self.database_url:
            raise ConfigError("In production VAULT_DATABASE_URL must be set (a PostgreSQL URL).")
        if self.session_idle_minutes <= 0 or self.session_absolute_hours <= 0:
            raise ConfigError("Session timeouts must be positive.")
        if not 0 <= self.proxy_hops <= 5:
            raise ConfigError("VAULT_PROXY_HOPS must be between 0 and 5.")
        if self.sms_gateway not in ("log", "http"):
            raise ConfigError("VAULT_SMS_GATEWAY must be 'log' or 'http'.")
        if self.sms_gateway == "http" and not (self.sms_url and self.sms_key):
            raise ConfigError("VAULT_SMS_GATEWAY is 'http' but VAULT_SMS_URL or VAULT_SMS_KEY is empty.")

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_path / 'vault.sqlite3'}"

    @property
    def effective_keyring_path(self) -> Path:
        return Path(self.keyring_path) if self.keyring_path else self.instance_path / "keyring.json"

    @property
    def effective_signing_key_path(self) -> Path:
        return Path(self.signing_key_path) if self.signing_key_path else self.instance_path / "signing-keys.json"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)
