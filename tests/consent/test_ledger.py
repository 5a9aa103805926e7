"""The ledger: linear hash chains, no values inside, tampering found and named, parallel appends.

Tampering is done the way an attacker with database rights would: straight SQL, after switching
the append-only triggers off (dropping them on SQLite, ``DISABLE TRIGGER`` on PostgreSQL) inside
the test's transaction, which the fixture rolls back.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from consent import ledger
from consent.ledger import GENESIS, LedgerEntry, LedgerHead
from vault.db import make_engine, make_session_factory
from vault.keys.signing import SigningKeyring

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
APP = "vv_app_acme"
OTHER = "vv_app_other"


def add(db, chain, n, *, start=0, vendor_app=APP, type="read", **kwargs):
    return [ledger.append(db, type=type, actor=vendor_app, actor_role="vendor", chain=chain, vendor_app=vendor_app,
                          scopes=["profile.email"], fields=["emails"], purpose="Send your orders.",
                          details={"endpoint": "me", "n": start + i},
                          now=T0 + timedelta(minutes=start + i), **kwargs) for i in range(n)]


def is_pg(db) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def unguard(db) -> None:
    """What an attacker with DDL rights does first: switch the append-only triggers off."""
    for table in ("ledger_entries", "ledger_checkpoints"):
        if is_pg(db):
            db.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
        else:
            db.execute(text(f"DROP TRIGGER {table}_no_update"))
            db.execute(text(f"DROP TRIGGER {table}_no_delete"))


def entry(db, chain, seq) -> LedgerEntry:
    return db.scalar(select(LedgerEntry).where(LedgerEntry.chain == chain, LedgerEntry.seq == seq))


def set_columns(db, chain, seq, /, **values) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    db.execute(text(f"UPDATE ledger_entries SET {sets} WHERE chain = :c AND seq = :s"),
               {**values, "c": chain, "s": seq})
    db.expire_all()


def delete(db, chain, seq) -> None:
    db.execute(text("DELETE FROM ledger_entries WHERE chain = :c AND seq = :s"), {"c": chain, "s": seq})
    db.expire_all()


def problem_of(db, chain=None):
    result = ledger.verify(db, chain)
    assert not result.ok
    p = result.first_problem
    return p.chain, p.seq, p.kind


@pytest.fixture
def chains(db):
    """Two customers' chains: c_alice with 5 entries, c_bob with 2."""
    add(db, "c_alice", 5)
    add(db, "c_bob", 2, vendor_app=OTHER)
    db.commit()
    return db


# -- appending -----------------------------------------------------------------------------------

def test_append_builds_linear_chains(db):
    alice = add(db, "c_alice", 3)
    bob = add(db, "c_bob", 2)
    assert [e.seq for e in alice] == [1, 2, 3] and [e.seq for e in bob] == [1, 2]
    assert alice[0].prev_hash == bob[0].prev_hash == GENESIS
    assert [e.prev_hash for e in alice[1:]] == [e.entry_hash for e in alice[:-1]]
    head = db.get(LedgerHead, "c_alice")
    assert (head.seq, head.head_hash) == (3, alice[-1].entry_hash)
    stored = entry(db, "c_alice", 2)
    assert (stored.id, stored.entry_hash, bytes(stored.canonical)) == (alice[1].id, alice[1].entry_hash,
                                                                      alice[1].canonical)
    # An outside verifier needs only the canonical bytes and the previous hash.
    assert ledger.hash_of_canonical(alice[0].entry_hash, stored.canonical) == stored.entry_hash
    assert ledger.verify(db) == ledger.VerifyResult(True, 5, 2)
    assert ledger.verify(db, "c_bob") == ledger.VerifyResult(True, 2, 1)


def test_canonical_bytes_are_compact_sorted_json_naming_fields_only(db):
    e = ledger.append(db, type="grant", actor="c_alice", actor_role="customer", chain="c_alice", vendor_app=APP,
                      scopes=["profile.name", "profile.email"], fields=["given_name", "emails", "emails"],
                      purpose="Deliver orders — vite", details={"receipt": 7, "expires_at": None},
                      now=datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc))
    data = json.loads(e.canonical)
    assert e.canonical == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert data == {"v": 1, "type": "grant", "chain": "c_alice", "seq": 1, "at": "2026-03-01T09:00:00.000000Z",
                    "actor": "c_alice", "actor_role": "customer", "vendor_app": APP,
                    "scopes": ["profile.email", "profile.name"], "fields": ["emails", "given_name"],
                    "purpose": "Deliver orders — vite", "details": {"expires_at": None, "receipt": 7}}
    assert "—".encode() in e.canonical  # UTF-8, not \u escapes
    assert entry(db, "c_alice", 1).data == data


@pytest.mark.parametrize("bad", [
    {"type": "peek"},
    {"actor_role": "admin"},
    {"chain": "c alice"},
    {"chain": "x" * 65},
    {"fields": ["amira.haddad@example.org"]},
    {"fields": ["+447700900123"]},
    {"fields": ["12 Rosemary Lane"]},
    {"fields": "emails"},
    {"scopes": [{"profile.email": True}]},
    {"details": {"email": {"address": "amira.haddad@example.org"}}},
    {"details": {"values": [{"given_name": "Amira"}]}},
    {"details": {"blob": b"bytes"}},
    {"details": {"ratio": float("nan")}},
    {"details": {"note": "x" * 201}},
    {"details": {f"k{i}": i for i in range(17)}},
    {"details": ["not", "a", "dict"]},
])
def test_values_and_unknown_names_are_refused_before_anything_is_written(db, bad):
    kwargs = dict(type="read", actor=APP, actor_role="vendor", chain="c_alice", vendor_app=APP,
                  fields=["emails"], details={"endpoint": "me"})
    kwargs.update(bad)
    with pytest.raises(ValueError) as err:
        ledger.append(db, **kwargs)
    assert "amira" not in str(err.value).lower() and "+4477" not in str(err.value)
    assert db.scalar(select(LedgerHead)) is None and db.scalar(select(LedgerEntry)) is None


def test_append_is_one_statement_on_postgresql_and_three_in_process_on_sqlite(db):
    """It runs on every vendor read: keep it that way (PostgreSQL: the vv_ledger_append function)."""
    add(db, "c_alice", 1)
    statements = []
    conn = db.connection()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(conn, "before_cursor_execute", listener)
    try:
        add(db, "c_alice", 1, start=1)
    finally:
        event.remove(conn, "before_cursor_execute", listener)
    assert len(statements) == (1 if db.get_bind().dialect.name == "postgresql" else 3), statements


def test_the_database_side_append_hashes_exactly_as_python_does(db):
    """The PostgreSQL function fills the seq into the canonical JSON and hashes it server-side:
    a "seq" among the details, text outside ASCII and an absent vendor must not confuse it."""
    written = [ledger.append(db, type="read", actor="app_x", actor_role="vendor", chain="c_hash", vendor_app=None,
                             scopes=["profile.name"], fields=["name"], purpose="Lieferung nach Köln ✓ \"seq\":0,",
                             details={"seq": 0, "type": "x", "note": 'a "seq":0, b'}, now=T0)
               for _ in range(3)]
    prev = ledger.GENESIS
    for number, entry in enumerate(written, start=1):
        assert entry.seq == number and entry.data["seq"] == number and entry.prev_hash == prev
        assert entry.data["details"] == {"seq": 0, "type": "x", "note": 'a "seq":0, b'}
        assert entry.entry_hash == ledger.hash_of_canonical(prev, entry.canonical)
        stored = db.get(ledger.LedgerEntry, entry.id)
        assert bytes(stored.canonical) == entry.canonical and stored.entry_hash == entry.entry_hash
        prev = entry.entry_hash
    assert ledger.verify(db, chain="c_hash").ok


# -- reading -------------------------------------------------------------------------------------

def test_entries_for_pages_newest_first_with_filters(chains):
    db = chains
    add(db, "c_alice", 2, start=5, type="write")
    page = ledger.entries_for(db, "c_alice", limit=3)
    assert [e.seq for e in page] == [7, 6, 5]
    assert [e.seq for e in ledger.entries_for(db, "c_alice", before_id=page[-1].id, limit=3)] == [4, 3, 2]
    assert [e.seq for e in ledger.entries_for(db, "c_alice", types=["write"])] == [7, 6]
    assert ledger.entries_for(db, "c_alice", vendor_app=OTHER) == []
    assert ledger.entries_for(db, "c_alice", before_id=ledger.entries_for(db, "c_bob")[0].id) == []
    assert [e.data["seq"] for e in ledger.iter_chain(db, "c_alice", batch=2)] == [1, 2, 3, 4, 5, 6, 7]


def test_search_for_officers_by_app_type_and_time(chains):
    db = chains
    everything = ledger.search(db, limit=100)
    assert len(everything) == 7 and everything[0].created_at >= everything[-1].created_at
    by_app = ledger.search(db, vendor_app=OTHER)
    assert {e.chain for e in by_app} == {"c_bob"} and all(e.data["vendor_app"] == OTHER for e in by_app)
    window = ledger.search(db, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))
    assert sorted((e.chain, e.seq) for e in window) == [("c_alice", 2), ("c_alice", 3), ("c_bob", 2)]
    first = ledger.search(db, limit=4)
    rest = ledger.search(db, before_id=first[-1].id, limit=10)
    assert len(rest) == 3 and not {e.id for e in first} & {e.id for e in rest}
    assert ledger.search(db, types=["grant"]) == []
    assert [e.seq for e in ledger.search(db, chain="c_bob")] == [2, 1]


# -- the guard -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE ledger_entries SET type = 'login'",
    "DELETE FROM ledger_entries",
    "UPDATE ledger_checkpoints SET kid = 'x'",
    "DELETE FROM ledger_checkpoints",
])
def test_entries_and_checkpoints_refuse_update_and_delete(chains, app, sql):
    db = chains
    ledger.checkpoint(db, app.extensions["vrm"].signing)
    with pytest.raises(DBAPIError, match="append-only"):
        with db.begin_nested():
            db.execute(text(sql))
    assert ledger.verify(db).ok


def test_truncate_is_refused_on_postgresql(chains):
    if not is_pg(chains):
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DBAPIError, match="append-only"):
        with chains.begin_nested():
            chains.execute(text("TRUNCATE ledger_entries"))


def test_heads_stay_updatable(chains):
    chains.execute(text("UPDATE ledger_heads SET seq = seq WHERE chain = 'c_alice'"))


# -- tampering -----------------------------------------------------------------------------------

def test_intact_ledger_verifies(chains):
    assert ledger.verify(chains) == ledger.VerifyResult(True, 7, 2)


def test_edited_content_is_found(chains):
    unguard(chains)
    row = entry(chains, "c_alice", 3)
    set_columns(chains, "c_alice", 3, canonical=bytes(row.canonical).replace(b'"emails"', b'"phones"'))
    assert problem_of(chains) == ("c_alice", 3, "edited")
    assert ledger.verify(chains, "c_bob").ok


@pytest.mark.parametrize("column, value", [
    ("type", "login"), ("vendor_app", OTHER), ("actor", "system"), ("created_at", T0 + timedelta(days=1)),
    ("prev_hash", "f" * 64),
])
def test_edited_column_alone_is_found(chains, column, value):
    unguard(chains)
    set_columns(chains, "c_alice", 3, **{column: value})
    assert problem_of(chains) == ("c_alice", 3, "edited")


def test_deleted_middle_entry_is_found(chains):
    unguard(chains)
    delete(chains, "c_alice", 3)
    assert problem_of(chains) == ("c_alice", 3, "deleted")


def test_deleted_last_entry_is_found_through_the_head(chains):
    unguard(chains)
    delete(chains, "c_alice", 5)
    assert problem_of(chains) == ("c_alice", 5, "deleted")
    assert problem_of(chains, "c_alice") == ("c_alice", 5, "deleted")


def test_deleted_chain_is_found_through_its_head(chains):
    unguard(chains)
    chains.execute(text("DELETE FROM ledger_entries WHERE chain = 'c_alice'"))
    assert problem_of(chains) == ("c_alice", 1, "deleted")


def test_deleted_last_entry_with_rewound_head_is_found_by_the_checkpoint(chains, app):
    db, signing = chains, app.extensions["vrm"].signing
    ledger.checkpoint(db, signing)
    unguard(db)
    fourth = entry(db, "c_alice", 4)
    delete(db, "c_alice", 5)
    db.execute(text("UPDATE ledger_heads SET seq = 4, head_hash = :h WHERE chain = 'c_alice'"),
               {"h": fourth.entry_hash})
    assert ledger.verify(db).ok  # the chain alone cannot tell...
    result = ledger.verify_checkpoints(db, signing)  # ...the signed head can
    assert not result.ok
    p = result.first_problem
    assert (p.chain, p.seq, p.kind) == ("c_alice", 5, "deleted")


def test_swapped_entries_are_found_at_the_first_swapped_position(chains):
    unguard(chains)
    two, four = entry(chains, "c_alice", 2), entry(chains, "c_alice", 4)
    a, b = (bytes(two.canonical), two.entry_hash), (bytes(four.canonical), four.entry_hash)
    set_columns(chains, "c_alice", 2, canonical=b[0], entry_hash=b[1])
    set_columns(chains, "c_alice", 4, canonical=a[0], entry_hash=a[1])
    assert problem_of(chains) == ("c_alice", 2, "reordered")


def test_renumbered_entries_are_found(chains):
    """Delete entry 3 and shift 4, 5 down to close the gap: entry 3's place holds entry 4."""
    unguard(chains)
    delete(chains, "c_alice", 3)
    set_columns(chains, "c_alice", 4, seq=3)
    set_columns(chains, "c_alice", 5, seq=4)
    assert problem_of(chains) == ("c_alice", 3, "reordered")


def test_rewritten_newest_entry_with_a_valid_hash_disagrees_with_the_head(chains):
    """An attacker who knows the hash recipe rewrites entry 5 consistently; the head still differs."""
    db = chains
    unguard(db)
    row = entry(db, "c_alice", 5)
    forged = bytes(row.canonical).replace(b'"emails"', b'"phones"')
    data = json.loads(forged)
    digest = ledger.hash_of_canonical(row.prev_hash, forged)
    assert data["fields"] == ["phones"]
    set_columns(db, "c_alice", 5, canonical=forged, entry_hash=digest)
    assert problem_of(db) == ("c_alice", 5, "head_mismatch")


def test_entries_added_behind_the_heads_back_are_found(chains):
    db = chains
    unguard(db)
    db.execute(text("UPDATE ledger_heads SET seq = 4 WHERE chain = 'c_alice'"))
    assert problem_of(db) == ("c_alice", 5, "inserted")
    db.execute(text("DELETE FROM ledger_heads WHERE chain = 'c_bob'"))
    assert problem_of(db, "c_bob") == ("c_bob", 1, "inserted")


def test_small_batches_cross_chains_and_still_find_the_problem(chains):
    db = chains
    add(db, "c_carol", 3)
    assert ledger.verify(db, batch=2) == ledger.VerifyResult(True, 10, 3)
    unguard(db)
    db.execute(text("DELETE FROM ledger_entries WHERE chain = 'c_bob'"))
    set_columns(db, "c_carol", 2, type="login")
    assert ledger.verify(db, batch=2).first_problem.kind == "deleted"
    assert problem_of(db, None) == ("c_bob", 1, "deleted")
    assert problem_of(db, "c_carol") == ("c_carol", 2, "edited")


def test_chain_order_is_code_point_order_whatever_the_locale(db):
    """The verifier merges entries and heads in Python: the database must sort chains the same way."""
    names = ["c_a", "c_B", "c-Z", "c_0", "system", "C_a", "c__a", "c_-", "c_~"]
    for name in names:
        add(db, name, 2)
    chain_order = db.scalars(select(LedgerHead.chain).order_by(LedgerHead.chain)).all()
    assert chain_order == sorted(set(names))
    assert ledger.verify(db, batch=1) == ledger.VerifyResult(True, 2 * len(set(names)), len(set(names)))
    unguard(db)
    db.execute(text("DELETE FROM ledger_entries WHERE chain = 'c_B'"))
    assert problem_of(db) == ("c_B", 1, "deleted")
    if is_pg(db):
        collations = db.execute(text("SELECT table_name, collation_name FROM information_schema.columns "
                                     "WHERE column_name = 'chain' AND table_name LIKE 'ledger_%' "
                                     "AND table_schema = current_schema()")).all()
        assert sorted(collations) == [("ledger_entries", "C"), ("ledger_heads", "C")]


# -- checkpoints ---------------------------------------------------------------------------------

def test_checkpoint_signs_every_head_and_verifies(chains, app):
    db, signing = chains, app.extensions["vrm"].signing
    cp = ledger.checkpoint(db, signing, now=T0)
    assert cp.heads == {"c_alice": [5, entry(db, "c_alice", 5).entry_hash],
                        "c_bob": [2, entry(db, "c_bob", 2).entry_hash]}
    assert cp.data["chains"] == 2 and cp.data["entries"] == 7 and cp.data["created_at"] == "2026-03-01T09:00:00.000000Z"
    add(db, "c_alice", 2, start=5)  # later appends keep old checkpoints valid
    ledger.checkpoint(db, signing)
    assert ledger.verify_checkpoints(db, signing) == ledger.VerifyResult(True, 2, 4)
    assert ledger.verify_checkpoints(db, signing, chain="c_bob") == ledger.VerifyResult(True, 2, 2)


def test_forged_or_altered_checkpoint_fails(chains, app):
    db, signing = chains, app.extensions["vrm"].signing
    real = ledger.checkpoint(db, signing)
    payload = json.loads(real.payload)
    payload["heads"]["c_alice"] = [4, entry(db, "c_alice", 4).entry_hash]
    forged_payload = ledger.canonical_json(payload)
    kid, sig = SigningKeyring.generate().sign(forged_payload)
    db.add(ledger.Checkpoint(created_at=T0, kid=kid, signature=sig, payload=forged_payload))
    db.flush()
    p = ledger.verify_checkpoints(db, signing).first_problem
    assert p.kind == "bad_signature" and p.checkpoint_id == real.id + 1
    unguard(db)
    db.execute(text("DELETE FROM ledger_checkpoints WHERE id > :id"), {"id": real.id})
    db.execute(text("UPDATE ledger_checkpoints SET payload = :p WHERE id = :id"), {"p": forged_payload, "id": real.id})
    db.expire_all()
    p = ledger.verify_checkpoints(db, signing).first_problem
    assert p.kind == "bad_signature" and p.checkpoint_id == real.id


def test_signatures_survive_key_rotation(chains):
    signing = SigningKeyring.generate()
    ledger.checkpoint(chains, signing)
    signing.rotate()
    assert ledger.verify_checkpoints(chains, signing).ok


# -- command line --------------------------------------------------------------------------------

def test_cli_verify_and_checkpoint(chains, app):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["vault", "ledger", "checkpoint"])
    assert made.exit_code == 0, made.output
    assert "Checkpoint" in made.output and "2 chain heads" in made.output
    ok = runner.invoke(args=["vault", "ledger", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "Ledger intact: 7 entries in 2 chains; 1 checkpoints verified" in ok.output
    one = runner.invoke(args=["vault", "ledger", "verify", "--customer", "c_bob"])
    assert one.exit_code == 0 and "2 entries in 1 chains" in one.output
    walked = runner.invoke(args=["vault", "ledger", "verify", "--walk"])
    assert walked.exit_code == 0 and "7 entries in 2 chains" in walked.output


def test_cli_verify_names_the_first_bad_entry(chains, app):
    unguard(chains)
    delete(chains, "c_alice", 2)
    chains.commit()
    result = app.test_cli_runner().invoke(args=["vault", "ledger", "verify"])
    assert result.exit_code == 1
    assert "chain c_alice" in result.output and "entry 2" in result.output and "deleted" in result.output
    bob = app.test_cli_runner().invoke(args=["vault", "ledger", "verify", "--customer", "c_bob"])
    assert bob.exit_code == 0, bob.output


def test_cli_verify_names_a_forged_checkpoint(chains, app):
    payload = ledger.canonical_json({"created_at": "2026-03-01T09:00:00.000000Z", "heads": {}, "chains": 0,
                                     "entries": 0})
    kid, sig = SigningKeyring.generate().sign(payload)
    chains.add(ledger.Checkpoint(created_at=T0, kid=kid, signature=sig, payload=payload))
    chains.commit()
    result = app.test_cli_runner().invoke(args=["vault", "ledger", "verify"])
    assert result.exit_code == 1 and "checkpoint" in result.output and "bad_signature" in result.output


# -- concurrency ---------------------------------------------------------------------------------

WORKER = """
import sys, time
from pathlib import Path
from consent import ledger
from vault.db import make_engine, make_session_factory

url, go, worker = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
engine = make_engine(url)
sessions = make_session_factory(engine)
with engine.connect():
    pass
(go.parent / ("ready-" + worker)).touch()
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
for i in range(25):
    for chain in ("c_shared", "system"):
        with sessions() as db:
            ledger.append(db, type="read", actor="vv_app_w" + worker, actor_role="vendor", chain=chain,
                          vendor_app="vv_app_w" + worker, fields=["emails"], details={"i": i})
            db.commit()
engine.dispose()
"""


@pytest.mark.slow
def test_parallel_processes_keep_every_chain_linear(fresh_database, tmp_path):
    fresh_database.migrate()
    go = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, fresh_database.url, str(go), str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all at once, so they really contend
    engine = make_engine(fresh_database.url)
    # Verifying while others append must never cry wolf (PostgreSQL's READ COMMITTED shows each
    # statement newer rows; the verifier re-reads instead of reporting them).
    while any(proc.poll() is None for proc in workers):
        with make_session_factory(engine)() as db:
            result = ledger.verify(db, batch=3)
            assert result.ok, result.first_problem
        time.sleep(0.02)  # on SQLite verifying holds the write lock: let the writers in
    engine.dispose()
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    engine = make_engine(fresh_database.url)
    try:
        with make_session_factory(engine)() as db:
            for chain in ("c_shared", "system"):
                seqs = db.scalars(select(LedgerEntry.seq).where(LedgerEntry.chain == chain)
                                  .order_by(LedgerEntry.seq)).all()
                assert seqs == list(range(1, 101))
                assert len({e.actor for e in ledger.iter_chain(db, chain)}) == 4
            assert ledger.verify(db) == ledger.VerifyResult(True, 200, 2)
            assert ledger.verify(db, batch=7) == ledger.VerifyResult(True, 200, 2)
    finally:
        engine.dispose()
