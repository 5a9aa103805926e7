"""The key-provider interface: where key-encryption keys (KEKs) come from.

The vault never stores a KEK in its database. A provider hands out the active KEK (to wrap new
data keys) and any older KEK by id (to unwrap data keys not yet re-wrapped). A KMS adapter
(e.g. HashiCorp Vault Transit) implements the same three methods; with a KMS the "KEK bytes"
would stay remote and wrap/unwrap would be remote calls, which is why callers go through
:class:`vault.keys.service.KeyService` rather than touching bytes themselves.
"""
from __future__ import annotations

import base64
import json
import secrets
from typing import Protocol

from ..crypto import KEY_BYTES, generate_key
from ..errors import ConfigError, KeyUnavailable

KEYRING_FORMAT = "vrm-vault-keyring/1"


class KeyProvider(Protocol):
    def active_kek(self) -> tuple[str, bytes]: ...
    def kek(self, kek_id: str) -> bytes: ...
    def kek_ids(self) -> list[str]: ...
    def rotate(self) -> str: ...


def new_kek_id() -> str:
    return "kek-" + secrets.token_hex(6)


class StaticKeyring:
    """A set of KEKs with one marked active, parsed from the keyring JSON format.

    ``{"format": "vrm-vault-keyring/1", "active": "<kid>", "keys": {"<kid>": "<base64>"}}``
    """

    def __init__(self, active: str, keys: dict[str, bytes]):
        self._active = active
        self._keys = dict(keys)

    @classmethod
    def generate(cls) -> "StaticKeyring":
        kid = new_kek_id()
        return cls(kid, {kid: generate_key()})

    @classmethod
    def parse(cls, text: str, source: str) -> "StaticKeyring":
        try:
            data = json.loads(text)
            if data.get("format") != KEYRING_FORMAT:
                raise ValueError("unknown format")
            keys = {kid: base64.b64decode(v, validate=True) for kid, v in data["keys"].items()}
            active = data["active"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"The keyring in {source} is not a valid VRM Vault keyring.") from None
        if active not in keys or any(len(k) != KEY_BYTES for k in keys.values()):
            raise ConfigError(f"The keyring in {source} is damaged (active key missing or a key of the wrong size).")
        return cls(active, keys)

    def dumps(self) -> str:
        return json.dumps({
            "format": KEYRING_FORMAT,
            "active": self._active,
            "keys": {kid: base64.b64encode(k).decode() for kid, k in self._keys.items()},
        }, indent=2)

    def active_kek(self) -> tuple[str, bytes]:
        return self._active, self._keys[self._active]

    def kek(self, kek_id: str) -> bytes:
        try:
            return self._keys[kek_id]
        except KeyError:
            raise KeyUnavailable(f"Key-encryption key {kek_id!r} is not in the keyring.") from None

    def kek_ids(self) -> list[str]:
        return list(self._keys)

    def add_active(self) -> str:
        kid = new_kek_id()
        self._keys[kid] = generate_key()
        self._active = kid
        return kid
