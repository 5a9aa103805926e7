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

This module uses SQLAlchemy Core on a table it describes itself, so the migration that seals the
addresses of an existing database (``0014``) can call it without importing today's models.
"""
from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Connection, LargeBinary, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session

from . import crypto
from .clock import utcnow
from .db import UTCDateTime
from .keys.service import KeyService

#: The key of ``Session.info`` under which every session of an instance carries its LoginEmails.
SESSION_INFO_KEY = "vrm.login_emails"
#: The ``system_keys`` row of this key, and the reference its wrap is bound to.
KEY_NAME = "login-emails"
KEY_REF = "system/login-emails"

_system_keys = Table(
    "system_keys", MetaData(),
    Column("name", String(40), primary_key=True),
    Column("kek_id", String(64)),
    Column("wrapped", LargeBinary),
    Column("created_at", UTCDateTime()),
)


def normalise(address: str) -> str:
    """The one spelling of an address that is hashed and stored (case and spaces do not count)."""
    return (address or "").strip().lower()


class LoginEmails:
    """Seal, open and look up login addresses under one instance's system key."""

    def __init__(self, system_key: bytes):
        def derive(purpose: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                        info=b"vrm-vault/login-emails/" + purpose).derive(system_key)
        self._lookup_key = derive(b"lookup")
        self._seal_key = derive(b"seal")

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

    @classmethod
    def open_or_create(cls, conn: Connection, keys: KeyService) -> "LoginEmails":
        return cls(system_key(conn, keys))

    @classmethod
    def open_existing(cls, conn: Connection, keys: KeyService) -> "LoginEmails":
        """For reading addresses sealed before (a downgrade): a missing key is an error, not new."""
        return cls(system_key(conn, keys, create=False))


def _stored_key(conn: Connection, keys: KeyService) -> bytes | None:
    row = conn.execute(select(_system_keys.c.kek_id, _system_keys.c.wrapped)
                       .where(_system_keys.c.name == KEY_NAME)).first()
    return None if row is None else keys.unwrap(KEY_REF, row.kek_id, row.wrapped)


def system_key(conn: Connection, keys: KeyService, *, create: bool = True) -> bytes:
    """The instance's system key, unwrapped; created and stored wrapped on first use.

    Two servers starting together may both try to create it: the loser's insert fails on the
    primary key inside a savepoint and it reads the winner's key instead.
    """
    if (key := _stored_key(conn, keys)) is not None:
        return key
    if not create:
        raise LookupError(f"The system key {KEY_NAME!r} is missing: the sealed login addresses cannot be opened.")
    key, kek_id, wrapped = keys.new_data_key(KEY_REF)
    try:
        with conn.begin_nested():
            conn.execute(insert(_system_keys).values(name=KEY_NAME, kek_id=kek_id, wrapped=wrapped,
                                                     created_at=utcnow()))
    except IntegrityError:
        if (key := _stored_key(conn, keys)) is None:  # the winner's row, or a real integrity problem
            raise
    return key


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

    _email_opened = None  # (sealed bytes, address), set by LoginEmails.assign or the first read

    def email_ref(self) -> str:
        """What the sealed address is bound to: a name of this row that never changes."""
        raise NotImplementedError

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
