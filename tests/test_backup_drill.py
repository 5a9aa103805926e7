"""The backup and restore drill (issue 8.9): database and keys backed up separately, restored into
a fresh instance, every customer's data read back and the ledger verified.

Runs on the suite's database kind: a SQLite file, or on PostgreSQL a schema dumped with pg_dump
and restored with pg_restore into a database of its own (dropped afterwards).
"""
from __future__ import annotations

import json
import os
import secrets
import stat

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from consent import ledger
from scripts import backup_drill
from tests.conftest import PG_URL, STRONG_PASSWORD, EmptyDatabase, make_test_app, _with_schema
from vault import accounts, records
from vault.config import Settings
from vault.db import make_engine
from vault.errors import ConfigError

SECOND_CUSTOMER = {"given_name": "Amira", "family_name": "Haddad", "interests": ["books"]}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A live instance with real commits: the demo customer, officer and vendor (grant, token,
    reads in the ledger), a second customer, and a signed checkpoint."""
    folder = tmp_path_factory.mktemp("source")
    database = EmptyDatabase(folder).migrate()
    app = make_test_app(database.url, folder / "instance")
    inst = app.extensions["vrm"]
    runner = app.test_cli_runner()
    demo = json.loads(runner.invoke(args=["vault", "demo", "--json"]).output)
    client = app.test_client()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {demo['access_token']}"}).status_code == 200
    with inst.sessions() as db:
        second = accounts.sign_up(db, "amira@example.org", STRONG_PASSWORD)
        records.write_fields(db, inst.keys, second, SECOND_CUSTOMER)
        db.commit()
    assert runner.invoke(args=["vault", "ledger", "checkpoint"]).exit_code == 0
    with inst.sessions() as db:
        values = {account_id: found for account_id, found in records.read_every_customer(db, inst.keys)}
    inst.dispose()
    settings = Settings.load(overrides={"instance_path": folder / "instance", "database_url": database.url})
    yield settings, values, database
    database.drop()


@pytest.fixture
def backups(source, tmp_path):
    settings, _, _ = source
    manifest = backup_drill.backup_database(settings, tmp_path / "database")
    backup_drill.backup_keys(settings, tmp_path / "keys")
    return tmp_path / "database", tmp_path / "keys", manifest


@pytest.fixture
def restore_url(source):
    """Where a restore goes: nothing for SQLite (the new instance folder), else a new database
    whose search path names the dumped schema."""
    if not PG_URL:
        yield None
        return
    name = "vault_restore_" + secrets.token_hex(4)
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield _with_schema(base, source[2].schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_restore_into_a_fresh_instance_reads_every_customer_and_verifies_the_ledger(source, backups, restore_url,
                                                                                    tmp_path):
    _, values, _ = source
    database_dir, keys_dir, manifest = backups
    # Separate folders, private files, no key in the database folder and no data in the keys one.
    assert sorted(p.name for p in keys_dir.iterdir()) == ["keyring.json", "keys-manifest.json", "secret_key",
                                                         "signing-keys.json"]
    assert not any(p.name.startswith("keyring") for p in database_dir.iterdir())
    for name in ("keyring.json", "signing-keys.json", "secret_key", manifest["file"]):
        path = (keys_dir if name != manifest["file"] else database_dir) / name
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    restored = backup_drill.restore(database_dir, keys_dir, tmp_path / "restored", restore_url)
    proof = backup_drill.prove(restored, manifest["expect"])

    assert proof.ok, proof.problems
    assert proof.customers_read == len(values) == manifest["expect"]["data_keys"] >= 2
    assert proof.login_addresses_read == manifest["expect"]["accounts"] > proof.customers_read
    assert proof.ledger_entries_verified == manifest["expect"]["ledger_entries"] > 0
    assert proof.checkpoints_verified == manifest["expect"]["checkpoints"] == 1
    inst = backup_drill.open_instance(restored)
    with inst.sessions() as db:
        assert dict(records.read_every_customer(db, inst.keys)) == values  # the very same values
    inst.dispose()


def test_the_database_without_its_keyring_is_unreadable(backups, restore_url, tmp_path):
    database_dir, keys_dir, _ = backups
    restored = backup_drill.restore(database_dir, keys_dir, tmp_path / "restored", restore_url)
    (restored.instance_path / "keyring.json").unlink()  # the keyring was lost
    with pytest.raises(ConfigError, match="keyring .* is missing but the database holds encrypted data"):
        backup_drill.prove(restored)


def test_a_keyring_from_another_instance_is_refused(backups, restore_url, tmp_path):
    database_dir, keys_dir, _ = backups
    restored = backup_drill.restore(database_dir, keys_dir, tmp_path / "restored", restore_url)
    from vault.keys.base import StaticKeyring
    (restored.instance_path / "keyring.json").write_text(StaticKeyring.generate().dumps())
    with pytest.raises(ConfigError, match="not the key this data was encrypted with|does not have"):
        backup_drill.prove(restored)


def test_a_damaged_backup_is_refused_before_anything_is_restored(backups, tmp_path):
    database_dir, keys_dir, manifest = backups
    with (database_dir / manifest["file"]).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(SystemExit, match="damaged"):
        backup_drill.restore(database_dir, keys_dir, tmp_path / "restored", None)
    assert not (tmp_path / "restored" / "keyring.json").exists()


def test_a_ledger_edited_after_the_backup_fails_the_proof(source, backups, restore_url, tmp_path):
    database_dir, keys_dir, manifest = backups
    restored = backup_drill.restore(database_dir, keys_dir, tmp_path / "restored", restore_url)
    engine = make_engine(restored.effective_database_url)
    with engine.begin() as conn:
        # What someone with DDL rights over the restored copy does first (tests/consent/test_ledger.py).
        if PG_URL:
            conn.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only"))
        else:
            conn.execute(text("DROP TRIGGER ledger_entries_no_update"))
        conn.execute(update(ledger.LedgerEntry).where(ledger.LedgerEntry.type == "read").values(vendor_app="someone"))
    engine.dispose()
    proof = backup_drill.prove(restored, manifest["expect"])
    assert not proof.ok
    assert any(p.startswith("ledger:") and "edited" in p for p in proof.problems)


def test_a_login_address_moved_to_another_account_fails_the_proof(source, backups, restore_url, tmp_path):
    database_dir, keys_dir, manifest = backups
    restored = backup_drill.restore(database_dir, keys_dir, tmp_path / "restored", restore_url)
    engine = make_engine(restored.effective_database_url)
    with engine.begin() as conn:  # every address sealed for its own row: a copy does not open
        first, second = conn.execute(text("SELECT id, email_sealed FROM accounts ORDER BY id LIMIT 2")).all()
        conn.execute(text("UPDATE accounts SET email_sealed = :sealed WHERE id = :id"),
                     {"sealed": first.email_sealed, "id": second.id})
    engine.dispose()
    proof = backup_drill.prove(restored, manifest["expect"])
    assert not proof.ok and proof.login_addresses_read == manifest["expect"]["accounts"] - 1
    assert len([p for p in proof.problems if p.startswith("account c_") and "login address does not open" in p]) == 1


def test_the_command_line_drill_backs_up_restores_and_proves(source, monkeypatch, capsys):
    settings, _, _ = source
    if PG_URL:
        pytest.skip("the one-shot drill restores SQLite into a temporary folder; PostgreSQL is covered above")
    monkeypatch.setenv("VAULT_INSTANCE_PATH", str(settings.instance_path))
    monkeypatch.setenv("VAULT_DATABASE_URL", settings.effective_database_url)
    assert backup_drill.main(["drill"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["customers_read"] >= 2 and out["problems"] == []
    assert "password" not in json.dumps(out).lower()
