"""Back up a VRM Vault instance, restore it into a fresh one, and prove the restore is whole.

The database and the keys are backed up *separately*, into two folders meant for two different
places (docs/operations.md): the database copy is useless without the keyring — by design —
and the keyring alone holds no customer data.

    # in the environment of the running instance (VAULT_INSTANCE_PATH, VAULT_DATABASE_URL ...)
    python scripts/backup_drill.py backup --database-out /backups/db/2026-03-01 --keys-out /secure/keys/2026-03-01
    python scripts/backup_drill.py restore --database-from ... --keys-from ... --instance /srv/vault-new \\
        [--database-url postgresql+psycopg://vault@db/vault_new]      # an empty database to restore into
    python scripts/backup_drill.py prove --instance /srv/vault-new [--database-url ...]
    python scripts/backup_drill.py drill [--restore-database-url ...]  # all three into temporary places

Database: SQLite through the sqlite3 online backup API (a consistent copy while the app runs);
PostgreSQL through ``pg_dump --format=custom`` from an exported snapshot, so the expectations
written beside the dump (counts, and a digest of every ledger chain head) describe exactly the
dumped data. Keys: the local keyring, the receipt/checkpoint signing keys and the secret key,
each copied with mode 0600. Keys that come from the environment (VAULT_KEYRING, VAULT_SIGNING_KEYS,
VAULT_SECRET_KEY) are the secret store's to back up; the manifest says so.

``prove`` opens the restored instance the way the app does (which refuses a keyring that does
not fit the data), unwraps every data key, decrypts every customer's every value, verifies every
ledger chain and signed checkpoint, and compares the counts and chain heads with the backup's.
Nothing here prints key material or vault values.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402 (after the path)
from sqlalchemy.engine import make_url  # noqa: E402

from consent import ledger  # noqa: E402
from vault import keyops, records  # noqa: E402
from vault.config import Settings  # noqa: E402
from vault.db import is_sqlite, make_engine  # noqa: E402
from vault.errors import DecryptionFailed  # noqa: E402
from vault.instance import open_instance  # noqa: E402
from vault.models import Account, DataKey, VaultRecord  # noqa: E402

DB_MANIFEST = "database-manifest.json"
KEYS_MANIFEST = "keys-manifest.json"
SQLITE_FILE = "vault.sqlite3"
PG_FILE = "vault.pgdump"


# -- expectations: what a whole restore must show ----------------------------------------------

def expectations(conn) -> dict:
    """Counts and a digest over every chain head, read on ``conn`` (one consistent snapshot)."""
    heads = hashlib.sha256()
    for chain, seq, head in conn.execute(select(ledger.LedgerHead.chain, ledger.LedgerHead.seq,
                                                ledger.LedgerHead.head_hash).order_by(ledger.LedgerHead.chain)):
        heads.update(f"{chain}\n{seq}\n{head}\n".encode())
    count = lambda model: conn.execute(select(func.count()).select_from(model)).scalar_one()  # noqa: E731
    return {"accounts": count(Account), "data_keys": count(DataKey), "vault_records": count(VaultRecord),
            "ledger_entries": count(ledger.LedgerEntry), "ledger_chains": count(ledger.LedgerHead),
            "checkpoints": count(ledger.Checkpoint), "ledger_heads_sha256": heads.hexdigest()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# -- PostgreSQL plumbing: connection details through the environment, never argv ------------------

@dataclass(frozen=True)
class PgTarget:
    env: dict
    schema: str | None


def pg_target(url: str) -> PgTarget:
    """libpq environment for ``url`` (password in PGPASSWORD, not on a command line), and the
    schema named by a ``-csearch_path=`` option if the URL confines itself to one."""
    u = make_url(url)
    env = dict(os.environ)
    for var, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                       ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value is not None:
            env[var] = str(value)
    schema = None
    options = unquote(str(u.query.get("options", "")))
    if "search_path=" in options:
        schema = options.split("search_path=", 1)[1].split()[0].split(",")[0]
        env["PGOPTIONS"] = options
    return PgTarget(env, schema)


def _run(cmd: list[str], env: dict) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stderr.strip().splitlines()[-1] if result.stderr else ''}")


# -- backup ------------------------------------------------------------------------------------

def backup_database(settings: Settings, out: Path) -> dict:
    """A consistent copy of the database in ``out``, with the expectations a restore must meet."""
    out = _private_dir(out)
    url = settings.effective_database_url
    engine = make_engine(url)
    try:
        if is_sqlite(url):
            target = out / SQLITE_FILE
            source = sqlite3.connect(make_url(url).database)
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)  # online backup: consistent even while the app writes
            finally:
                source.close()
                copy.close()
            os.chmod(target, 0o600)
            check = make_engine(f"sqlite:///{target}")
            with check.connect() as conn:
                expected = expectations(conn)
            check.dispose()
            kind = "sqlite"
        else:
            target = out / PG_FILE
            pg = pg_target(url)
            with engine.connect() as conn:
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                expected = expectations(conn)
                cmd = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                       f"--file={target}"]
                if pg.schema:
                    cmd.append(f"--schema={pg.schema}")
                _run(cmd, pg.env)  # while the snapshot's transaction is still open
            os.chmod(target, 0o600)
            kind = "postgresql"
    finally:
        engine.dispose()
    manifest = {"kind": kind, "file": target.name, "sha256": _sha256(target), "expect": expected}
    _write_json(out / DB_MANIFEST, manifest)
    return manifest


def backup_keys(settings: Settings, out: Path) -> dict:
    """The keyring, signing keys and secret key, each 0600, in a folder of their own."""
    out = _private_dir(out)
    files, elsewhere = {}, []
    sources = {"keyring.json": None if settings.key_provider == "env" else settings.effective_keyring_path,
               "signing-keys.json": None if settings.signing_keys else settings.effective_signing_key_path,
               "secret_key": None if settings.secret_key else settings.instance_path / "secret_key"}
    env_names = {"keyring.json": "VAULT_KEYRING", "signing-keys.json": "VAULT_SIGNING_KEYS",
                 "secret_key": "VAULT_SECRET_KEY"}
    for name, source in sources.items():
        if source is None:
            elsewhere.append(env_names[name])
            continue
        if not source.exists():
            raise SystemExit(f"{source} is missing: there is nothing to back up for {name}.")
        target = out / name
        shutil.copyfile(source, target)
        os.chmod(target, 0o600)
        files[name] = _sha256(target)
    manifest = {"files": files, "from_environment": elsewhere}
    _write_json(out / KEYS_MANIFEST, manifest)
    return manifest


# -- restore -----------------------------------------------------------------------------------

def restore(database_from: Path, keys_from: Path, instance: Path, database_url: str | None = None) -> Settings:
    """Restore both backups into a fresh instance folder (and, for PostgreSQL, an empty database).

    Checksums are checked first: a damaged copy is refused before anything is written.
    """
    db_manifest = json.loads((database_from / DB_MANIFEST).read_text(encoding="utf-8"))
    keys_manifest = json.loads((keys_from / KEYS_MANIFEST).read_text(encoding="utf-8"))
    dump = database_from / db_manifest["file"]
    if _sha256(dump) != db_manifest["sha256"]:
        raise SystemExit(f"{dump} does not match its checksum: the database backup is damaged.")
    for name, digest in keys_manifest["files"].items():
        if _sha256(keys_from / name) != digest:
            raise SystemExit(f"{keys_from / name} does not match its checksum: the key backup is damaged.")
    instance = _private_dir(instance)
    if any((instance / name).exists() for name in (*keys_manifest["files"], SQLITE_FILE)):
        raise SystemExit(f"{instance} already holds an instance: restore into a fresh folder.")
    for name in keys_manifest["files"]:
        shutil.copyfile(keys_from / name, instance / name)
        os.chmod(instance / name, 0o600)
    if db_manifest["kind"] == "sqlite":
        if database_url and not is_sqlite(database_url):
            raise SystemExit("This is a SQLite backup: restore it into an instance folder, not PostgreSQL.")
        target = Path(make_url(database_url).database) if database_url else instance / SQLITE_FILE
        shutil.copyfile(dump, target)
        os.chmod(target, 0o600)
        url = f"sqlite:///{target}"
    else:
        if not database_url or is_sqlite(database_url):
            raise SystemExit("A PostgreSQL backup needs --database-url naming an empty PostgreSQL database.")
        target = pg_target(database_url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
              f"--dbname={target.env['PGDATABASE']}", str(dump)], target.env)
        url = database_url
    return restored_settings(instance, url)


def restored_settings(instance: Path, database_url: str | None = None) -> Settings:
    """Settings for the restored instance: its own folder's keys and database; keys that came
    from the environment (VAULT_KEYRING ...) still come from there."""
    overrides: dict = {"instance_path": instance, "auto_migrate": False}
    if database_url:
        overrides["database_url"] = database_url
    else:
        overrides["database_url"] = f"sqlite:///{instance / SQLITE_FILE}"
    for name, setting in (("keyring.json", "keyring_path"), ("signing-keys.json", "signing_key_path")):
        if (instance / name).exists():
            overrides[setting] = str(instance / name)
    return Settings.load(overrides=overrides)


# -- prove -------------------------------------------------------------------------------------

@dataclass
class Proof:
    customers_read: int = 0
    values_read: int = 0
    login_addresses_read: int = 0
    data_keys_checked: int = 0
    ledger_entries_verified: int = 0
    checkpoints_verified: int = 0
    found: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def prove(settings: Settings, expected: dict | None = None) -> Proof:
    """Every wrapped key unwraps, every customer's values decrypt, every login address opens, the
    ledger verifies, and (given
    the backup's expectations) nothing is missing. Raises ConfigError if the keys do not fit."""
    inst = open_instance(settings)
    proof = Proof()
    try:
        with inst.sessions() as db:
            keys = keyops.check_data_keys(db, inst.keys)
            proof.data_keys_checked = keys.checked
            proof.problems += [f"{label}: key does not unwrap" for label, _ in keys.failures[:10]]
            for account_id, values in records.read_every_customer(db, inst.keys):
                if isinstance(values, Exception):
                    proof.problems.append(f"customer {account_id}: data does not read back")
                    continue
                proof.customers_read += 1
                proof.values_read += len(values)
            for account in db.scalars(select(Account)):  # every login address opens again
                try:
                    _ = account.email
                    proof.login_addresses_read += 1
                except DecryptionFailed:
                    proof.problems.append(f"account {account.public_id}: login address does not open")
            chains = ledger.verify(db)
            proof.ledger_entries_verified = chains.checked
            if not chains.ok:
                proof.problems.append(f"ledger: {chains.first_problem.sentence}")
            else:
                cps = ledger.verify_checkpoints(db, inst.signing)
                proof.checkpoints_verified = cps.checked
                if not cps.ok:
                    proof.problems.append(f"checkpoints: {cps.first_problem.sentence}")
            proof.found = expectations(db.connection())
            db.rollback()
    finally:
        inst.engine.dispose()
    if expected is not None:
        for key, value in expected.items():
            if proof.found.get(key) != value:
                proof.problems.append(f"{key}: the backup had {value}, the restore has {proof.found.get(key)}")
    return proof


# -- command line ------------------------------------------------------------------------------

def _say(proof: Proof) -> int:
    print(json.dumps({"ok": proof.ok, **{k: v for k, v in asdict(proof).items() if k != "problems"},
                      "problems": proof.problems}, indent=2))
    return 0 if proof.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="Back up the database and the keys (separately).")
    b.add_argument("--database-out", type=Path, required=True)
    b.add_argument("--keys-out", type=Path, required=True)
    r = sub.add_parser("restore", help="Restore both backups into a fresh instance.")
    r.add_argument("--database-from", type=Path, required=True)
    r.add_argument("--keys-from", type=Path, required=True)
    r.add_argument("--instance", type=Path, required=True)
    r.add_argument("--database-url", help="An empty database to restore into (PostgreSQL backups).")
    p = sub.add_parser("prove", help="Prove a restored instance is whole.")
    p.add_argument("--instance", type=Path, required=True)
    p.add_argument("--database-url")
    p.add_argument("--database-from", type=Path, help="The backup, to compare counts and chain heads with.")
    d = sub.add_parser("drill", help="Back up this instance, restore into temporary places, prove it.")
    d.add_argument("--restore-database-url", help="An empty PostgreSQL database for the restore.")
    args = parser.parse_args(argv)

    if args.command == "backup":
        settings = Settings.load()
        db = backup_database(settings, args.database_out)
        keys = backup_keys(settings, args.keys_out)
        print(json.dumps({"database": db, "keys": {"files": sorted(keys["files"]),
                                                   "from_environment": keys["from_environment"]}}, indent=2))
        return 0
    if args.command == "restore":
        restored = restore(args.database_from, args.keys_from, args.instance, args.database_url)
        print(f"Restored into {restored.instance_path} ({restored.effective_database_url.split('://')[0]}).")
        return 0
    if args.command == "prove":
        expected = None
        if args.database_from:
            expected = json.loads((args.database_from / DB_MANIFEST).read_text(encoding="utf-8"))["expect"]
        return _say(prove(restored_settings(args.instance, args.database_url), expected))
    settings = Settings.load()
    with tempfile.TemporaryDirectory(prefix="vv-drill-") as tmp:
        tmp = Path(tmp)
        manifest = backup_database(settings, tmp / "database")
        backup_keys(settings, tmp / "keys")
        restored = restore(tmp / "database", tmp / "keys", tmp / "instance", args.restore_database_url)
        return _say(prove(restored, manifest["expect"]))


if __name__ == "__main__":
    sys.exit(main())
