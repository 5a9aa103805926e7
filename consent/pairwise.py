"""Pairwise subject ids: each app knows a customer only by an id of its own.

HMAC-SHA256 of (customer pseudonym, app client id) under a server secret: stable for the pair,
unlinkable across apps without the secret, and never our row id. The value is stored on the
grant when consent is first given, so rotating the server secret changes nothing for existing
relationships.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from vault.crypto import derive_key


def derive_pairwise_secret(master: str | bytes) -> bytes:
    """A key for pairwise ids only, derived from the instance secret (never used raw)."""
    return derive_key(master, b"vrm-vault pairwise subject v1")


def pairwise_subject(secret: bytes, customer_public_id: str, client_id: str) -> str:
    mac = hmac.new(secret, f"{customer_public_id}|{client_id}".encode(), hashlib.sha256).digest()
    return "sub_" + base64.b32encode(mac[:20]).decode().lower()
