"""Wrapping and unwrapping data keys through whichever key provider is configured."""
from __future__ import annotations

from dataclasses import dataclass

from .. import crypto
from ..config import Settings
from .base import KeyProvider
from .env import EnvKeyringProvider
from .local import LocalKeyringProvider


@dataclass
class KeyService:
    provider: KeyProvider

    def new_data_key(self, customer_ref: str) -> tuple[bytes, str, bytes]:
        """A fresh DEK, plus the id of the KEK that wrapped it and the wrapped bytes to store."""
        dek = crypto.generate_key()
        kek_id, kek = self.provider.active_kek()
        return dek, kek_id, crypto.wrap_dek(kek, kek_id, customer_ref, dek)

    def unwrap(self, customer_ref: str, kek_id: str, wrapped: bytes) -> bytes:
        return crypto.unwrap_dek(self.provider.kek(kek_id), kek_id, customer_ref, wrapped)

    def rewrap(self, customer_ref: str, kek_id: str, wrapped: bytes) -> tuple[str, bytes]:
        """The same DEK wrapped under the active KEK; the data it protects is not touched."""
        dek = self.unwrap(customer_ref, kek_id, wrapped)
        active_id, active = self.provider.active_kek()
        return active_id, crypto.wrap_dek(active, active_id, customer_ref, dek)

    @property
    def active_kek_id(self) -> str:
        return self.provider.active_kek()[0]


def open_key_service(settings: Settings, *, may_create: bool) -> KeyService:
    """The key service for ``settings``; ``may_create`` allows creating a first local keyring."""
    if settings.key_provider == "env":
        return KeyService(EnvKeyringProvider(settings.keyring))
    return KeyService(LocalKeyringProvider.open(settings.effective_keyring_path, may_create=may_create))
