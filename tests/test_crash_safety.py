"""Crash safety: kill -9 an app worker, or the database server, in the middle of mixed load.

Load runs through real HTTP against gunicorn: the customer edits their vault and renews their
consent in the portal while the vendor reads through the API. At random moments a worker is
SIGKILLed (gunicorn starts another), or, separately, the PostgreSQL postmaster is SIGKILLed and
restarted. Afterwards, whatever the server acknowledged must be stored, nothing may be
half-written (every consent change has its receipt and its ledger entry, or neither), and the
ledger verifies (SECURITY.md 27).

A write that got no answer may or may not have landed; the checks allow exactly that and no more.
"""
from __future__ import annotations

import os
import random
import signal
import time

import pytest
from sqlalchemy import func, select

from consent import ledger
from consent.ledger import LedgerEntry
from consent.models import ConsentReceipt, Grant
from tests.conftest import PG_URL, make_test_app
from tests.load import Load, Tally
from tests.servers import Gunicorn, PrivatePostgres, app_env, can_run_private_postgres, seed_demo
from vault import keyops, records
from vault.accounts import find_by_email

pytestmark = pytest.mark.slow

LOAD_SECONDS = 6.0


def _check_everything_acknowledged_is_there(database_url: str, instance, seeded: dict, tally: Tally) -> None:
    app = make_test_app(database_url, instance)
    inst = app.extensions["vrm"]
    try:
        with inst.sessions() as db:
            customer = find_by_email(db, seeded["customer_email"])
            grant = db.scalar(select(Grant).where(Grant.account_id == customer.id))

            # the vault holds the last acknowledged value, or a later one whose answer was lost
            assert tally.notes_acked, "no write was acknowledged: the load never got going"
            stored = records.read_fields(db, inst.keys, customer.id, {"notes"})["notes"]
            last = tally.notes_attempted.index(tally.notes_acked[-1])
            assert stored in tally.notes_attempted[last:]

            # every acknowledged read left its ledger entry (and no read was recorded twice)
            reads = db.scalar(select(func.count()).select_from(LedgerEntry).where(
                LedgerEntry.chain == customer.public_id, LedgerEntry.type == "read",
                LedgerEntry.vendor_app == seeded["client_id"]))
            assert tally.reads_acked <= reads <= tally.reads_attempted + 1  # +1: the demo's own setup

            # consent changes are whole: a ledger entry and a receipt for each, or neither
            renew_entries = db.scalar(select(func.count()).select_from(LedgerEntry).where(
                LedgerEntry.chain == customer.public_id, LedgerEntry.type.in_(["renew", "widen"])))
            renew_receipts = db.scalar(select(func.count()).select_from(ConsentReceipt).where(
                ConsentReceipt.grant_id == grant.id, ConsentReceipt.event.in_(["renew", "widen"])))
            assert renew_entries == renew_receipts
            assert tally.renews_acked <= renew_entries <= tally.renews_attempted + 2

            result = ledger.verify(db)
            assert result.ok, result.first_problem
            assert keyops.check_data_keys(db, inst.keys).ok
    finally:
        inst.dispose()


def test_killing_app_workers_under_load_loses_no_acknowledged_write(fresh_database, tmp_path):
    env = app_env(fresh_database.url, tmp_path / "instance")
    seeded = seed_demo(env)
    with Gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server:
        load = Load(server.base, seeded).start()
        deadline = time.monotonic() + LOAD_SECONDS
        kills = 0
        while time.monotonic() < deadline:
            time.sleep(random.uniform(0.3, 1.0))
            workers = server.workers()
            if workers:
                os.kill(random.choice(workers), signal.SIGKILL)
                kills += 1
        time.sleep(1.5)  # gunicorn replaces the workers; the load keeps going meanwhile
        tally = load.stop()
    assert kills >= 3
    _check_everything_acknowledged_is_there(fresh_database.url, tmp_path / "instance", seeded, tally)


@pytest.mark.skipif(not PG_URL, reason="the database crash runs with the PostgreSQL suite")
@pytest.mark.skipif(not can_run_private_postgres(), reason="needs root to run a private PostgreSQL cluster")
def test_killing_the_database_server_under_load_loses_no_acknowledged_write(tmp_path):
    database = PrivatePostgres().start()
    env = app_env(database.url, tmp_path / "instance")
    try:
        seeded = seed_demo(env)
        with Gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server:
            load = Load(server.base, seeded).start()
            time.sleep(random.uniform(1.0, 2.0))
            database.kill()
            down_reads = load.tally.reads_acked
            time.sleep(1.0)
            assert load.tally.reads_acked - down_reads <= 2  # only requests already in flight could finish
            database.start()
            time.sleep(3.0)  # the app reconnects by itself
            recovered_from = load.tally.reads_acked
            time.sleep(1.0)
            tally = load.stop()
            assert tally.reads_acked > recovered_from, "the API did not recover after the database came back"
        _check_everything_acknowledged_is_there(database.url, tmp_path / "instance", seeded, tally)
    finally:
        database.stop()
