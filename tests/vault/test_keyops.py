"""The keyring check at start-up and on every readiness probe: one wrapped key per KEK in use."""
from __future__ import annotations

from sqlalchemy import event, select

from tests.conftest import STRONG_PASSWORD, query_plan
from vault import accounts, keyops, records
from vault.models import DataKey


def _customer_with_data(db, keys, email: str):
    customer = accounts.sign_up(db, email, STRONG_PASSWORD)
    records.write_fields(db, keys, customer, {"given_name": "Kim"})
    db.flush()
    return customer


def test_the_check_opens_one_key_per_kek_and_names_the_one_that_fails(db, keys):
    older = [_customer_with_data(db, keys, f"older{i}@example.com") for i in range(3)]
    new_kek = keys.provider.rotate()
    newer = _customer_with_data(db, keys, "newer@example.com")
    assert db.get(DataKey, newer.id).kek_id == new_kek != db.get(DataKey, older[0].id).kek_id

    statements = []
    listener = lambda conn, cursor, sql, *args: statements.append(sql)  # noqa: E731
    event.listen(db.get_bind(), "before_cursor_execute", listener)
    try:
        assert keyops.sample_check(db, keys) is None
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listener)
    kek_ids = {kek_id for kek_id, in db.execute(select(DataKey.kek_id).distinct())}
    # one probe per KEK in use and one that finds none after the last: not one row per customer
    assert sum("FROM data_keys" in sql for sql in statements) == len(kek_ids) + 1

    db.get(DataKey, newer.id).wrapped = b"\0" * 60  # the only key under the new KEK
    db.flush()
    assert new_kek in keyops.sample_check(db, keys)


def test_each_probe_is_served_by_the_kek_index(db):
    """However many customers, a probe is a step along ix_data_keys_kek_id, never a scan of
    every data key (which the check's former GROUP BY was, on each readiness probe)."""
    for after in (None, "kek-000000"):
        plan = query_plan(db, keyops.kek_probe(after))
        assert "ix_data_keys_kek_id" in plan, plan
