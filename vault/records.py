"""Read, write, export and erase a customer's vault values.

Every value is JSON, sealed per field with the customer's data key (see :mod:`vault.crypto`).
These functions flush but never commit: the caller (a request, a CLI command) commits once.
Callers that act for someone else (a vendor) go through ``consent.policy`` first; this module
only knows customers and fields.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from . import crypto
from .clock import utcnow
from .driver import DriverStatement
from .errors import CustomerErased, ValidationFailed, VaultError
from .keys.service import KeyService
from .models import Account, DataKey, VaultRecord
from .schemas import VAULT_FIELDS, validate_values


def _ref(account_id: int) -> str:
    return str(account_id)


def ensure_data_key(db: Session, keys: KeyService, account: Account) -> bytes:
    """The customer's DEK, creating (and wrapping) one on first use."""
    row = db.get(DataKey, account.id)
    if row is None:
        dek, kek_id, wrapped = keys.new_data_key(_ref(account.id))
        db.add(DataKey(account_id=account.id, kek_id=kek_id, wrapped=wrapped))
        db.flush()
        return dek
    return keys.unwrap(_ref(account.id), row.kek_id, row.wrapped)


def data_key(db: Session, keys: KeyService, account_id: int) -> bytes:
    row = db.get(DataKey, account_id)
    if row is None:
        raise CustomerErased("This customer has no data key: their data was erased or never written.")
    return keys.unwrap(_ref(account_id), row.kek_id, row.wrapped)


def decrypt_rows(dek: bytes, account_id: int, rows) -> dict:
    """Decrypt ``(field, version, ciphertext)`` rows into ``{field: value}``."""
    return {field: json.loads(plain) for field, plain in crypto.open_fields(dek, _ref(account_id), rows).items()}


def read_fields(db: Session, keys: KeyService, account_id: int,
                fields: frozenset[str] | set[str] | None = None) -> dict:
    """The customer's values, all or only ``fields``; a field never written is absent."""
    if fields is not None and not fields:
        return {}
    # One round trip: the customer's ciphertexts and their wrapped data key, straight from the
    # driver (this is on every vendor read). An outer join, so records without a key are noticed.
    # All of the customer's few records come back; only the asked-for ones are decrypted.
    return open_rows(keys, account_id, _READ_ALL.execute(db.connection(), {"account_id": account_id}), fields)


def open_rows(keys: KeyService, account_id: int, rows, fields: frozenset[str] | set[str] | None = None) -> dict:
    """Decrypt ``fields`` (all when None) of the customer's sealed rows, as read by
    :data:`_READ_ALL` (field, version, ciphertext, kek_id, wrapped data key); only the fields
    asked for are opened, and the data key is unwrapped only if one is."""
    if fields is not None:
        rows = [row for row in rows if row[0] in fields]
    if not rows:
        return {}
    kek_id, wrapped = rows[0][3], rows[0][4]
    if kek_id is None:
        raise CustomerErased("This customer has no data key: their data was erased or never written.")
    dek = keys.unwrap(_ref(account_id), kek_id, wrapped)
    return decrypt_rows(dek, account_id, [row[:3] for row in rows])


_R, _K = VaultRecord.__table__, DataKey.__table__
_READ_ALL = DriverStatement(select(_R.c.field, _R.c.version, _R.c.ciphertext, _K.c.kek_id, _K.c.wrapped)
                            .select_from(_R.outerjoin(_K, _K.c.account_id == _R.c.account_id))
                            .where(_R.c.account_id == bindparam("account_id")))


def write_fields(db: Session, keys: KeyService, account: Account, values: dict,
                 *, now: datetime | None = None) -> list[str]:
    """Validate and store ``values``; ``None`` clears a field. Returns the fields that changed.

    Validation happens before anything is written, so bad input stores nothing at all.
    """
    clean, errors = validate_values(values, partial=True)
    if errors:
        raise ValidationFailed(errors)
    now = now or utcnow()
    dek = ensure_data_key(db, keys, account)
    ref = _ref(account.id)
    existing = {r.field: r for r in db.scalars(
        select(VaultRecord).where(VaultRecord.account_id == account.id,
                                  VaultRecord.field.in_(sorted(clean))))}
    current = decrypt_rows(dek, account.id, [(f, r.version, r.ciphertext) for f, r in existing.items()])
    changed = []
    for field, value in clean.items():
        if value is None or value == "" or value == []:
            if field in existing:
                db.delete(existing[field])
                changed.append(field)
            continue
        if current.get(field) == value:
            continue
        blob = crypto.seal_field(dek, ref, field, json.dumps(value, ensure_ascii=False).encode())
        row = existing.get(field)
        if row is None:
            db.add(VaultRecord(account_id=account.id, field=field, version=crypto.FIELD_VERSION,
                               ciphertext=blob, updated_at=now))
        else:
            row.ciphertext, row.version, row.updated_at = blob, crypto.FIELD_VERSION, now
        changed.append(field)
    db.flush()
    return sorted(changed)


def read_every_customer(db: Session, keys: KeyService, *, batch: int = 2000):
    """Yield ``(account_id, values or the error)`` for every customer holding a data key.

    For the restore drill: proof that each customer's data reads back, streamed by keyset on
    ``account_id`` so memory stays flat at a million customers. A customer whose key does not
    unwrap or whose value does not decrypt yields the :class:`VaultError` instead of values.
    """
    last = 0
    while True:
        ids = db.scalars(select(DataKey.account_id).where(DataKey.account_id > last)
                         .order_by(DataKey.account_id).limit(batch)).all()
        if not ids:
            return
        rows: dict[int, list] = {i: [] for i in ids}
        keyrows = {}
        for account_id, field, version, blob, kek_id, wrapped in db.execute(
                select(_K.c.account_id, _R.c.field, _R.c.version, _R.c.ciphertext, _K.c.kek_id, _K.c.wrapped)
                .select_from(_K.outerjoin(_R, _R.c.account_id == _K.c.account_id))
                .where(_K.c.account_id.between(ids[0], ids[-1]))):
            keyrows[account_id] = (kek_id, wrapped)
            if field is not None:
                rows[account_id].append((field, version, blob))
        for account_id in ids:
            try:
                dek = keys.unwrap(_ref(account_id), *keyrows[account_id])
                yield account_id, decrypt_rows(dek, account_id, rows[account_id])
            except VaultError as exc:
                yield account_id, exc
        last = ids[-1]


def export_fields(db: Session, keys: KeyService, account_id: int) -> dict:
    """Every value the customer keeps, in catalogue order, for their own download."""
    values = read_fields(db, keys, account_id)
    return {f: values[f] for f in VAULT_FIELDS if f in values}


def erase_vault(db: Session, account_id: int) -> None:
    """Crypto-shred: destroy the data key first, then the ciphertexts.

    Once the key row is gone, any copy of the ciphertexts (a backup, a replica) is unreadable.
    """
    db.execute(delete(DataKey).where(DataKey.account_id == account_id))
    db.execute(delete(VaultRecord).where(VaultRecord.account_id == account_id))
    db.flush()
