"""Envelope encryption of vault values.

Each customer has a random 256-bit data key (DEK). Values are sealed with AES-256-GCM under the
DEK with a fresh 96-bit nonce per write. The associated data binds a ciphertext to its customer,
field and schema version, so a value copied to another row or field fails to authenticate
instead of being shown in the wrong place. The DEK is stored wrapped (AES-256-GCM again) by a
key-encryption key (KEK) that lives outside the database; the wrap is bound to the customer and
the KEK id the same way.

Layout of every sealed blob: ``nonce (12 bytes) || ciphertext || tag (16 bytes)``.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptionFailed

NONCE_BYTES = 12
KEY_BYTES = 32
#: Bumped when the plaintext encoding of values changes; part of every field's associated data.
FIELD_VERSION = 1


def derive_key(master: str | bytes, label: bytes) -> bytes:
    """A 256-bit key for one purpose (``label``), derived from a secret by HKDF-SHA256, so the
    secret itself is never used raw and keys for different purposes are unrelated."""
    material = master.encode() if isinstance(master, str) else master
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(material)


def generate_key() -> bytes:
    """A fresh random 256-bit key, for DEKs and KEKs alike."""
    return AESGCM.generate_key(bit_length=256)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes | AESGCM, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionFailed("The stored value is truncated.")
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionFailed("The stored value does not authenticate under this key.") from None


def _dek_aad(customer_ref: str, kek_id: str) -> bytes:
    return f"vrm-vault/dek|{customer_ref}|{kek_id}".encode()


def _field_aad(customer_ref: str, field: str, version: int) -> bytes:
    return f"vrm-vault/field|v{version}|{customer_ref}|{field}".encode()


def wrap_dek(kek: bytes, kek_id: str, customer_ref: str, dek: bytes) -> bytes:
    return _seal(kek, dek, _dek_aad(customer_ref, kek_id))


def unwrap_dek(kek: bytes, kek_id: str, customer_ref: str, wrapped: bytes) -> bytes:
    return _open(kek, wrapped, _dek_aad(customer_ref, kek_id))


def seal_field(dek: bytes, customer_ref: str, field: str, plaintext: bytes,
               version: int = FIELD_VERSION) -> bytes:
    return _seal(dek, plaintext, _field_aad(customer_ref, field, version))


def open_field(dek: bytes, customer_ref: str, field: str, blob: bytes,
               version: int = FIELD_VERSION) -> bytes:
    return _open(dek, blob, _field_aad(customer_ref, field, version))


def open_fields(dek: bytes, customer_ref: str, rows) -> dict[str, bytes]:
    """``{field: plaintext}`` for ``(field, version, blob)`` rows of one customer: the key schedule
    is set up once for all of them (a vendor read opens a dozen fields)."""
    cipher = AESGCM(dek)
    return {field: _open(cipher, blob, _field_aad(customer_ref, field, version)) for field, version, blob in rows}
