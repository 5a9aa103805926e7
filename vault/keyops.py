"""Operations over every data key: rotation and the proof that all of them unwrap."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .clock import utcnow
from .errors import DecryptionFailed, KeyUnavailable
from .keys.service import KeyService
from .models import DataKey


@dataclass
class KeyCheck:
    checked: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def check_data_keys(db: Session, keys: KeyService, *, limit: int | None = None) -> KeyCheck:
    """Unwrap every data key (or the first ``limit``): the proof that no customer is locked out."""
    result = KeyCheck()
    query = select(DataKey.account_id, DataKey.kek_id, DataKey.wrapped).order_by(DataKey.account_id)
    if limit is not None:
        query = query.limit(limit)
    for account_id, kek_id, wrapped in db.execute(query):
        result.checked += 1
        try:
            keys.unwrap(str(account_id), kek_id, wrapped)
        except (KeyUnavailable, DecryptionFailed) as exc:
            result.failures.append((account_id, str(exc)))
    return result


def sample_check(db: Session, keys: KeyService) -> str | None:
    """Unwrap one data key per key-encryption key in use; a sentence if any fails.

    Cheap enough for start-up and readiness probes, and it catches the usual mistakes: a
    keyring from another instance, a key missing from the environment.
    """
    for kek_id, account_id, wrapped in _first_per_kek(db):
        try:
            keys.unwrap(str(account_id), kek_id, wrapped)
        except KeyUnavailable:
            return f"The data is encrypted under key {kek_id!r}, which the key provider does not have."
        except DecryptionFailed:
            return f"Key {kek_id!r} in the key provider is not the key this data was encrypted with."
    return None


def _first_per_kek(db: Session):
    first = select(DataKey.kek_id, func.min(DataKey.account_id).label("aid")).group_by(DataKey.kek_id).subquery()
    return db.execute(select(DataKey.kek_id, DataKey.account_id, DataKey.wrapped).join(
        first, (DataKey.kek_id == first.c.kek_id) & (DataKey.account_id == first.c.aid))).all()


def has_wrapped_keys(db: Session) -> bool:
    return db.execute(select(DataKey.account_id).limit(1)).first() is not None


def rewrap_all(db: Session, keys: KeyService, *, batch: int = 500) -> int:
    """Re-wrap every data key not already under the active KEK; returns how many changed.

    Only the small wrapped keys change: no vault value is decrypted or rewritten. Each batch is
    flushed so a very large vault does not hold every row in memory.
    """
    active = keys.active_kek_id
    now = utcnow()
    changed = 0
    while True:
        rows = db.scalars(select(DataKey).where(DataKey.kek_id != active)
                          .order_by(DataKey.account_id).limit(batch)).all()
        if not rows:
            return changed
        for row in rows:
            row.kek_id, row.wrapped = keys.rewrap(str(row.account_id), row.kek_id, row.wrapped)
            row.rewrapped_at = now
            changed += 1
        db.flush()
