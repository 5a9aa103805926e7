"""Login email addresses at rest: sealed, and found by a keyed hash, never stored in the clear.

A login address has to be found before we know who is logging in, so it cannot be sealed with the
customer's own data key the way vault values are. It is sealed with an instance-wide *system key*
instead: a random 256-bit key stored wrapped by the key-encryption key exactly like a customer's
data key (``system_keys``), so a database dump alone yields no address, and key rotation re-wraps
it with the others (:mod:`vault.keyops`). Two keys are derived from it with HKDF:

- the *lookup* key: ``email_lookup = HMAC-SHA256(lookup key, normalised address)``, unique on
  accounts, is how log-in, sign-up and invitations find an address without decrypting anything;
- the *seal* key: ``email_sealed = AES-256-GCM(seal key, address)``, with associated data naming
  the row it belongs to (``account|<public id>``, ``invite|<token hash>``), so a sealed address
  copied onto another row fails to open rather than showing someone else's address.

Models expose the plaintext as a read-only ``email`` property (:class:`SealedEmail`): it opens the
sealed bytes with the :class:`LoginEmails` found in the row's session ``info`` (every session of
an instance carries it, see :func:`vault.instance.open_instance`). Writing goes through
:meth:`LoginEmails.assign`.

The system key itself is stored and re-wrapped with the other wrapped keys
(:func:`vault.keyops.system_key`); this module only derives from it.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import ClassVar

from sqlalchemy.orm import object_session

from . import crypto

#: The key of ``Session.info`` under which every session of an instance carries its LoginEmails.
SESSION_INFO_KEY = "vrm.login_emails"
#: The ``system_keys`` row this module's key is stored in (vault.keyops.system_key).
KEY_NAME = "login-emails"


def normalise(address: str) -> str:
    """The one spelling of an address that is hashed and stored (case and spaces do not count)."""
    return (address or "").strip().lower()


class LoginEmails:
    """Seal, open and look up login addresses under one instance's system key."""

    def __init__(self, system_key: bytes):
        self._lookup_key = crypto.derive_key(system_key, b"vrm-vault/login-emails/lookup")
        self._seal_key = crypto.derive_key(system_key, b"vrm-vault/login-emails/seal")

    def __repr__(self) -> str:  # the keys must never reach a log line through a repr
        return "LoginEmails(<keys hidden>)"

    def lookup(self, address: str) -> str:
        """The keyed hash a stored address is found by (hex, 64 characters)."""
        return hmac.new(self._lookup_key, normalise(address).encode(), hashlib.sha256).hexdigest()

    def seal(self, ref: str, address: str) -> bytes:
        return crypto.seal_field(self._seal_key, ref, "login_email", normalise(address).encode())

    def open(self, ref: str, sealed: bytes) -> str:
        return crypto.open_field(self._seal_key, ref, "login_email", sealed).decode()

    def assign(self, row: "SealedEmail", address: str) -> None:
        """Store ``address`` on ``row`` (an account or an invitation) as lookup hash and sealed bytes."""
        address = normalise(address)
        ref = row.email_ref()
        row.email_lookup = self.lookup(address)
        row.email_sealed = self.seal(ref, address)
        row._email_opened = (row.email_sealed, address)


def of_session(db) -> LoginEmails:
    """The LoginEmails of the instance a session belongs to."""
    try:
        return db.info[SESSION_INFO_KEY]
    except KeyError:
        raise RuntimeError("This session was not made by a VRM Vault instance (no login-email key in "
                           "Session.info); use Instance.sessions or Instance.sessions_on().") from None


class SealedEmail:
    """Mixin for a model with ``email_lookup`` and ``email_sealed`` columns: a read-only ``email``.

    The opened address is remembered with the sealed bytes it came from, so a row read once per
    request is decrypted once, and a re-assigned address is never answered from a stale copy.
    """

    #: What the sealed address is bound to: a prefix and the attribute naming this row for good
    #: (each model sets its own, e.g. ``("account|", "public_id")``).
    EMAIL_REF: ClassVar[tuple[str, str]]
    _email_opened = None  # (sealed bytes, address), set by LoginEmails.assign or the first read

    def email_ref(self) -> str:
        prefix, attribute = self.EMAIL_REF
        return prefix + getattr(self, attribute)

    @property
    def email(self) -> str:
        opened = self._email_opened
        if opened is not None and opened[0] is self.email_sealed:
            return opened[1]
        session = object_session(self)
        if session is None:
            raise RuntimeError(f"{type(self).__name__}.email is read through its session; this row has none.")
        address = of_session(session).open(self.email_ref(), self.email_sealed)
        self._email_opened = (self.email_sealed, address)
        return address
