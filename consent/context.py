"""What consent operations need from the running instance, passed explicitly (no globals)."""
from __future__ import annotations

from dataclasses import dataclass

from vault.keys.signing import SigningKeyring


@dataclass(frozen=True)
class ConsentContext:
    signing: SigningKeyring
    pairwise_secret: bytes
    issuer_url: str
    issuer_name: str = "VRM Vault"

    def url(self, path: str) -> str:
        return self.issuer_url.rstrip("/") + path
