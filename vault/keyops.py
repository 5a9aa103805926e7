"""Operations over every wrapped key: rotation and the proof that all of them unwrap.

Wrapped keys are customers' data keys (``data_keys``, bound to the account id) and the
instance's system keys (``system_keys``, bound to ``system/<name>``, e.g. the login-email key of
:mod:`vault.login_emails`). Both are wrapped by the same key-encryption keys, so rotation and
checks go over both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .clock import utcnow
from .errors import DecryptionFailed, KeyUnavailable
from .keys.service import KeyService
from .models import DataKey, SystemKey


def _system_ref(name: str) -> str:
    return "system/" + name


@dataclass
class KeyCheck:
    checked: int = 0
    #: (what the key belongs to, e.g. "customer 12" or "system key login-emails", why it failed)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _stored_system_key(conn, keys: KeyService, name: str) -> bytes | None:
    table = SystemKey.__table__
    row = conn.execute(select(table.c.kek_id, table.c.wrapped).where(table.c.name == name)).first()
    return None if row is None else keys.unwrap(_system_ref(name), row.kek_id, row.wrapped)


def system_key(conn, keys: KeyService, name: str, *, create: bool = True) -> bytes:
    """The system key ``name``, unwrapped; created and stored wrapped on first use unless
    ``create`` is false (reading what was sealed before: a missing key is then an error).

    ``conn`` is a Connection or Session (start-up and migrations have no ORM session). Two
    servers starting together may both try to create it: the loser's insert fails on the
    primary key inside a savepoint and it reads the winner's key instead.
    """
    if (key := _stored_system_key(conn, keys, name)) is not None:
        return key
    if not create:
        raise LookupError(f"The system key {name!r} is missing: what it sealed cannot be opened.")
    key, kek_id, wrapped = keys.new_data_key(_system_ref(name))
    try:
        with conn.begin_nested():
            conn.execute(insert(SystemKey.__table__).values(name=name, kek_id=kek_id, wrapped=wrapped))
    except IntegrityError:
        if (key := _stored_system_key(conn, keys, name)) is None:  # the winner's row, or a real problem
            raise
    return key


def _wrapped_keys(db: Session, limit: int | None):
    """(label, ref, kek_id, wrapped) of the system keys, then of customers' data keys."""
    for name, kek_id, wrapped in db.execute(select(SystemKey.name, SystemKey.kek_id, SystemKey.wrapped)
                                            .order_by(SystemKey.name)):
        yield f"system key {name}", _system_ref(name), kek_id, wrapped
    query = select(DataKey.account_id, DataKey.kek_id, DataKey.wrapped).order_by(DataKey.account_id)
    if limit is not None:
        query = query.limit(limit)
    for account_id, kek_id, wrapped in db.execute(query):
        yield f"customer {account_id}", str(account_id), kek_id, wrapped


def check_data_keys(db: Session, keys: KeyService, *, limit: int | None = None) -> KeyCheck:
    """Unwrap every wrapped key (or the system keys and the first ``limit`` data keys): the proof
    that no customer is locked out and that login addresses can be read."""
    result = KeyCheck()
    for label, ref, kek_id, wrapped in _wrapped_keys(db, limit):
        result.checked += 1
        try:
            keys.unwrap(ref, kek_id, wrapped)
        except (KeyUnavailable, DecryptionFailed) as exc:
            result.failures.append((label, str(exc)))
    return result


def sample_check(db: Session, keys: KeyService) -> str | None:
    """Unwrap one wrapped key per key-encryption key in use; a sentence if any fails.

    Cheap enough for start-up and readiness probes, and it catches the usual mistakes: a
    keyring from another instance, a key missing from the environment. It runs before
    migrations too, on a schema that may not have ``system_keys`` yet.
    """
    for kek_id, ref, wrapped in _first_per_kek(db):
        try:
            keys.unwrap(ref, kek_id, wrapped)
        except KeyUnavailable:
            return f"The data is encrypted under key {kek_id!r}, which the key provider does not have."
        except DecryptionFailed:
            return f"Key {kek_id!r} in the key provider is not the key this data was encrypted with."
    return None


def _first_per_kek(db: Session):
    """One wrapped key per key-encryption key in use: the customers' data keys, one index probe
    per KEK (there are a handful, however many customers: a ``GROUP BY`` would read every row of
    ``data_keys`` on each readiness probe), then the system keys under any other KEK."""
    rows, after = [], None
    while (row := db.execute(kek_probe(after)).first()):
        after = row.kek_id
        rows.append((row.kek_id, str(row.account_id), row.wrapped))
    if _has_system_keys_table(db):
        seen = {kek_id for kek_id, _, _ in rows}
        rows += [(kek_id, _system_ref(name), wrapped) for name, kek_id, wrapped in db.execute(
            select(SystemKey.name, SystemKey.kek_id, SystemKey.wrapped)) if kek_id not in seen]
    return rows


def kek_probe(after: str | None):
    """A data key wrapped by the first KEK (in id order) after ``after``: one step of the walk
    over ``ix_data_keys_kek_id`` above."""
    probe = select(DataKey.kek_id, DataKey.account_id, DataKey.wrapped).order_by(DataKey.kek_id).limit(1)
    return probe if after is None else probe.where(DataKey.kek_id > after)


def _has_system_keys_table(db: Session) -> bool:
    return inspect(db.connection()).has_table(SystemKey.__tablename__)


def has_wrapped_keys(db: Session) -> bool:
    """Whether anything was ever sealed here (so a new keyring must not be made up)."""
    if db.execute(select(DataKey.account_id).limit(1)).first() is not None:
        return True
    return _has_system_keys_table(db) and db.execute(select(SystemKey.name).limit(1)).first() is not None


def rewrap_all(db: Session, keys: KeyService, *, batch: int = 500) -> int:
    """Re-wrap every wrapped key not already under the active KEK; returns how many changed.

    Only the small wrapped keys change: no vault value or login address is decrypted or
    rewritten. Each batch is flushed so a very large vault does not hold every row in memory.
    """
    active = keys.active_kek_id
    now = utcnow()
    changed = 0
    for row in db.scalars(select(SystemKey).where(SystemKey.kek_id != active)).all():
        row.kek_id, row.wrapped = keys.rewrap(_system_ref(row.name), row.kek_id, row.wrapped)
        row.rewrapped_at = now
        changed += 1
    while True:
        rows = db.scalars(select(DataKey).where(DataKey.kek_id != active)
                          .order_by(DataKey.account_id).limit(batch)).all()
        if not rows:
            db.flush()
            return changed
        for row in rows:
            row.kek_id, row.wrapped = keys.rewrap(str(row.account_id), row.kek_id, row.wrapped)
            row.rewrapped_at = now
            changed += 1
        db.flush()
