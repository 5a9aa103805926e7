"""The vault stores ciphertext only, binds each value to its place, rotates and shreds keys."""
import pytest
from sqlalchemy import inspect, select, text

from pathlib import Path

from tests.conftest import STRONG_PASSWORD, make_test_app
from vault import keyops, records
from vault.accounts import sign_up
from vault.errors import CustomerErased, DecryptionFailed, ValidationFailed
from vault.models import DataKey, VaultRecord

PROFILE = {
    "given_name": "Zephyrine", "family_name": "Quarrington-Blythe",
    "emails": [{"address": "zq.private@example.org"}],
    "phones": [{"number": "+44 7700 900 461"}],
    "address_home": {"line1": "Flat 9, Juniper Court", "city": "Llandudno", "country": "gb"},
    "notes": "allergic to walnuts",
    "interests": ["books", "music"],
}


@pytest.fixture
def filled(db, keys, customer):
    records.write_fields(db, keys, customer, PROFILE)
    db.commit()
    return customer


def test_values_read_back_normalised(db, keys, filled):
    values = records.read_fields(db, keys, filled.id)
    assert values["given_name"] == "Zephyrine"
    assert values["phones"] == [{"number": "+447700900461", "label": "mobile"}]
    assert values["address_home"]["country"] == "GB"
    assert values["emails"][0]["primary"] is True
    assert records.read_fields(db, keys, filled.id, {"given_name"}) == {"given_name": "Zephyrine"}
    assert records.read_fields(db, keys, filled.id, set()) == {}


def _table_bytes(db) -> bytes:
    dumps = []
    for table in inspect(db.connection()).get_table_names():
        for row in db.execute(text(f"SELECT * FROM {table}")):
            dumps.append(b"|".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                                   for v in row))
    return b"\n".join(dumps)


def test_raw_database_holds_no_plaintext(fresh_database, tmp_path):
    """Committed for real, then read raw: the database file on SQLite, every table row on PostgreSQL."""
    app = make_test_app(fresh_database.migrate().url, tmp_path / "instance")
    inst = app.extensions["vrm"]
    with inst.sessions() as db:
        customer = sign_up(db, "raw@example.com", STRONG_PASSWORD)
        records.write_fields(db, inst.keys, customer, PROFILE)
        db.commit()
        raw = _table_bytes(db)
    inst.dispose()
    if fresh_database.schema is None:
        path = Path(inst.engine.url.database)
        raw += b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in ("Zephyrine", "Quarrington", "zq.private", "7700900461", "Juniper", "Llandudno", "walnuts",
                   "raw@example", "RAW@EXAMPLE"):  # the login address too (SECURITY.md 25)
        assert secret.encode() not in raw, secret
    assert customer.public_id.encode() in raw  # the dump really contains the committed rows


def test_ciphertext_moved_to_another_customer_or_field_fails(db, keys, filled):
    other = sign_up(db, "other@example.com", STRONG_PASSWORD)
    records.write_fields(db, keys, other, {"given_name": "Bob"})
    stolen = db.scalar(select(VaultRecord).where(VaultRecord.account_id == filled.id,
                                                 VaultRecord.field == "given_name"))
    target = db.scalar(select(VaultRecord).where(VaultRecord.account_id == other.id,
                                                 VaultRecord.field == "given_name"))
    target.ciphertext = stolen.ciphertext
    db.flush()
    with pytest.raises(DecryptionFailed):
        records.read_fields(db, keys, other.id, {"given_name"})
    # Same customer, other field:
    family = db.scalar(select(VaultRecord).where(VaultRecord.account_id == filled.id,
                                                 VaultRecord.field == "family_name"))
    family.ciphertext = stolen.ciphertext
    db.flush()
    with pytest.raises(DecryptionFailed):
        records.read_fields(db, keys, filled.id, {"family_name"})


def test_bad_input_gets_field_errors_and_stores_nothing(db, keys, customer):
    with pytest.raises(ValidationFailed) as caught:
        records.write_fields(db, keys, customer, {"given_name": "Ok", "phones": [{"number": "12"}],
                                                  "birth_date": "2999-01-01"})
    assert set(caught.value.errors) == {"phones", "birth_date"}
    assert db.scalars(select(VaultRecord).where(VaultRecord.account_id == customer.id)).all() == []


def test_none_clears_a_field_and_unchanged_values_are_not_rewritten(db, keys, filled):
    before = db.scalar(select(VaultRecord.ciphertext).where(VaultRecord.account_id == filled.id,
                                                            VaultRecord.field == "given_name"))
    assert records.write_fields(db, keys, filled, {"given_name": "Zephyrine", "notes": None}) == ["notes"]
    after = db.scalar(select(VaultRecord.ciphertext).where(VaultRecord.account_id == filled.id,
                                                           VaultRecord.field == "given_name"))
    assert before == after
    assert "notes" not in records.read_fields(db, keys, filled.id)


def test_rotation_rewraps_data_keys_only_and_everything_stays_readable(db, keys, filled):
    old_kek = db.get(DataKey, filled.id).kek_id
    ciphertexts = sorted(db.scalars(select(VaultRecord.ciphertext).where(VaultRecord.account_id == filled.id)))
    new_kek = keys.provider.rotate()
    assert new_kek != old_kek
    assert keyops.rewrap_all(db, keys) >= 1
    assert db.get(DataKey, filled.id).kek_id == new_kek
    assert sorted(db.scalars(select(VaultRecord.ciphertext).where(VaultRecord.account_id == filled.id))) == ciphertexts
    assert records.read_fields(db, keys, filled.id)["family_name"] == "Quarrington-Blythe"
    assert keyops.check_data_keys(db, keys).ok
    assert keyops.rewrap_all(db, keys) == 0


def test_erasure_destroys_the_key_and_nothing_decrypts_after(db, keys, filled):
    blobs = [(r.field, r.version, r.ciphertext) for r in
             db.scalars(select(VaultRecord).where(VaultRecord.account_id == filled.id))]
    wrapped = db.get(DataKey, filled.id)
    kek_id, wrapped_bytes = wrapped.kek_id, wrapped.wrapped
    dek = keys.unwrap(str(filled.id), kek_id, wrapped_bytes)
    assert records.decrypt_rows(dek, filled.id, blobs)  # readable before
    records.erase_vault(db, filled.id)
    assert db.get(DataKey, filled.id) is None
    assert records.read_fields(db, keys, filled.id) == {}
    with pytest.raises(CustomerErased):
        records.data_key(db, keys, filled.id)
    # A backup copy of the ciphertexts is noise without the shredded key:
    from vault import crypto
    with pytest.raises(DecryptionFailed):
        records.decrypt_rows(crypto.generate_key(), filled.id, blobs)


def test_export_lists_values_in_catalogue_order(db, keys, filled):
    exported = records.export_fields(db, keys, filled.id)
    assert list(exported)[:2] == ["given_name", "family_name"]
    assert exported["notes"] == "allergic to walnuts"
