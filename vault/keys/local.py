"""The default key provider: a keyring file in the instance folder (mode 0600).

Created on first run only when the database holds no wrapped data keys yet; a missing keyring
in front of existing data is a start-up error, never a fresh key over data it cannot read.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError
from .base import StaticKeyring

log = logging.getLogger(__name__)


def write_private_file(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path`` readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def create_private_file(path: Path, text: str) -> bool:
    """Create ``path`` (0600) only if it does not exist; True if this call created it.

    Linking a finished temp file into place makes creation atomic even when several workers
    start at once: exactly one wins, the others read what it wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


class LocalKeyringProvider:
    def __init__(self, path: Path, keyring: StaticKeyring):
        self.path = path
        self._ring = keyring

    @classmethod
    def open(cls, path: Path, *, may_create: bool) -> "LocalKeyringProvider":
        try:
            if not path.exists():
                if not may_create:
                    raise ConfigError(
                        f"The keyring {path} is missing but the database holds encrypted data: "
                        "restore the keyring file (or set VAULT_KEYRING_PATH) to start.")
                if create_private_file(path, StaticKeyring.generate().dumps()):
                    log.info("Created a new local keyring at %s (mode 0600). Back it up: without it "
                             "the vault's data cannot be read.", path)
            text = path.read_text(encoding="utf-8")
        except PermissionError:
            raise ConfigError(f"The keyring {path} cannot be read or written: check its permissions.") from None
        except OSError as exc:
            raise ConfigError(f"The keyring {path} cannot be used: {exc.strerror}.") from None
        provider = cls(path, StaticKeyring.parse(text, str(path)))
        log.info("Using the local keyring at %s.", path)
        return provider

    def active_kek(self):
        return self._ring.active_kek()

    def kek(self, kek_id):
        return self._ring.kek(kek_id)

    def kek_ids(self):
        return self._ring.kek_ids()

    def rotate(self) -> str:
        """Add a new active KEK and persist the keyring before anything is wrapped under it."""
        kid = self._ring.add_active()
        write_private_file(self.path, self._ring.dumps())
        return kid
