"""Random credentials and their stored form.

Every code, token and client secret is 256 bits from :mod:`secrets` with a readable prefix (so
a leaked one is recognisable in a scanner and at a glance, and its kind is known without a
look-up). Only the SHA-256 hex digest is stored: these values have full entropy, so a slow
password hash would add cost without adding safety.
"""
from __future__ import annotations

import hashlib
import secrets

ACCESS_PREFIX = "vv_at_"
REFRESH_PREFIX = "vv_rt_"
CODE_PREFIX = "vv_ac_"
SECRET_PREFIX = "vv_cs_"
REGISTRATION_PREFIX = "vv_rat_"


def new_credential(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """The stored form of a credential (lookups are by this digest, never by the value)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
