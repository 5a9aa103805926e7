"""Key provider for containers: the keyring JSON comes from ``VAULT_KEYRING``.

The environment is read-only to us, so rotation means: the operator adds a new key to the JSON,
marks it active, restarts, and runs ``vault keys rotate`` to re-wrap the data keys.
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import StaticKeyring


class EnvKeyringProvider:
    def __init__(self, text: str):
        self._ring = StaticKeyring.parse(text, "VAULT_KEYRING")

    def active_kek(self):
        return self._ring.active_kek()

    def kek(self, kek_id):
        return self._ring.kek(kek_id)

    def kek_ids(self):
        return self._ring.kek_ids()

    def rotate(self) -> str:
        raise ConfigError(
            "With VAULT_KEY_PROVIDER=env, add a new key to VAULT_KEYRING, mark it active and restart; "
            "then `vault keys rotate` re-wraps the data keys under it.")
