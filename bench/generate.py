"""Scale data for PostgreSQL through COPY, valid end to end, then the figures of issue 8.2.

    createdb -h 127.0.0.1 -U root bench_scale
    VAULT_DATABASE_URL=postgresql+psycopg://root@127.0.0.1/bench_scale VAULT_INSTANCE_PATH=/tmp/vv-scale \\
        /work/venv/bin/python bench/generate.py --customers 100000 --apps 100 --grants-per-customer 3 \\
        --ledger-entries 3000000 --measure

The instance is first filled by ``vault demo`` (a customer, a vendor app with a live access
token); then ``--apps`` vendor apps, ``--customers`` customers with a data key and two sealed
fields each, ``--grants-per-customer`` grants each, and ``--ledger-entries`` ledger entries spread
over the customers' chains are added with COPY. Everything is real: every customer has their own
random data key wrapped under the instance's KEK (AAD bound to the customer), values are sealed
per field with AAD, every ledger entry's canonical bytes and hash are computed exactly as
``consent.ledger.append`` does and each chain's head matches, so ``vault ledger verify`` passes.
Password hashes are one real argon2 hash shared by every generated customer (nobody logs in as
them; hashing a million passwords would take two CPU-days and measure nothing here).

``--measure`` then prints: /api/v1/me latency in-process (p50/p99 over 500 calls), officer
searches, ``ledger.verify`` entries/s, and EXPLAIN of the hot queries.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from consent import ledger  # noqa: E402
from vault import crypto  # noqa: E402
from vault.passwords import hash_password  # noqa: E402

SCOPES = ["profile.name", "profile.email", "preferences.interests"]
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
ENTRY_TYPES = ["read"] * 8 + ["grant", "write"]


def _copy(conn, table: str, columns: list[str], rows) -> int:
    """COPY rows into table on the raw psycopg connection of ``conn``."""
    raw = conn.connection.dbapi_connection
    n = 0
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def _seconds(t0: float) -> str:
    return f"{time.perf_counter() - t0:.1f}s"


def generate(inst, *, customers: int, apps: int, grants_per_customer: int, ledger_entries: int) -> dict:
    engine = inst.engine
    assert engine.dialect.name == "postgresql", "the generator uses PostgreSQL COPY"
    kek_id, kek = inst.keys.provider.active_kek()
    pw_hash = hash_password("bench-not-a-login-" + os.urandom(8).hex())
    timings = {}
    with engine.begin() as conn:
        org_id = conn.execute(text("SELECT min(id) FROM vendor_orgs")).scalar_one()
        first_app = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM vendor_apps")).scalar_one()
        first_acct = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM accounts")).scalar_one()
        first_grant = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM grants")).scalar_one()

        t0 = time.perf_counter()
        app_ids = list(range(first_app, first_app + apps))
        _copy(conn, "vendor_apps", ["id", "client_id", "org_id", "name", "website", "purpose", "purpose_category",
                                    "lawful_basis", "requested_scopes_json", "created_at", "is_active"],
              ((i, f"bench-app-{i}", org_id, f"Bench app {i}", "https://bench.example", "Benchmarking.",
                "service", "consent", json.dumps(SCOPES), START, True) for i in app_ids))
        acct_ids = range(first_acct, first_acct + customers)
        public = {i: f"c_bench{i:08d}" for i in acct_ids}
        emails = inst.login_emails
        _copy(conn, "accounts", ["id", "public_id", "email_lookup", "email_sealed", "password_hash", "role",
                                 "is_active", "created_at", "password_changed_at"],
              ((i, public[i], emails.lookup(f"bench{i}@bench.example"),
                emails.seal("account|" + public[i], f"bench{i}@bench.example"), pw_hash, "customer", True, START,
                START) for i in acct_ids))
        timings["accounts"] = _seconds(t0)

        t0 = time.perf_counter()
        deks = {}

        def key_rows():
            for i in acct_ids:
                dek = crypto.generate_key()
                deks[i] = dek
                yield i, kek_id, crypto.wrap_dek(kek, kek_id, str(i), dek), START

        _copy(conn, "data_keys", ["account_id", "kek_id", "wrapped", "created_at"], key_rows())

        def record_rows():
            for i in acct_ids:
                for field, value in (("given_name", f"Customer {i}"), ("interests", ["books", "travel"])):
                    blob = crypto.seal_field(deks[i], str(i), field, json.dumps(value).encode())
                    yield i, field, crypto.FIELD_VERSION, blob, START

        _copy(conn, "vault_records", ["account_id", "field", "version", "ciphertext", "updated_at"], record_rows())
        deks.clear()
        timings["keys_and_records"] = _seconds(t0)

        t0 = time.perf_counter()
        client_of = {a: f"bench-app-{a}" for a in app_ids}

        def grant_rows():
            gid = first_grant
            for n, i in enumerate(acct_ids):
                for k in range(grants_per_customer):
                    app = app_ids[(n + k * 7) % len(app_ids)]
                    subject = hashlib.sha256(f"{app}:{i}".encode()).hexdigest()[:43]
                    status = "revoked" if (n + k) % 10 == 0 else "active"
                    yield (gid, f"g_bench{gid:09d}", i, app, subject, json.dumps(SCOPES), None, "Benchmarking.",
                           "service", "consent", status, START, START, START, None,
                           START + timedelta(days=30) if status == "revoked" else None)
                    gid += 1

        n_grants = _copy(conn, "grants", ["id", "public_id", "account_id", "app_id", "subject", "scopes_json",
                                          "fields_json", "purpose", "purpose_category", "lawful_basis", "status",
                                          "created_at", "updated_at", "granted_at", "expires_at", "revoked_at"],
                         grant_rows())
        timings["grants"] = _seconds(t0)

        t0 = time.perf_counter()
        per_customer, extra = divmod(ledger_entries, customers)
        heads = {}

        def entry_rows():
            minute = 0
            for n, i in enumerate(acct_ids):
                chain = public[i]
                prev = ledger.GENESIS
                count = per_customer + (1 if n < extra else 0)
                for seq in range(1, count + 1):
                    minute += 1
                    at_dt = START + timedelta(seconds=minute * 7)
                    at = ledger._iso(at_dt)
                    kind = ENTRY_TYPES[(n + seq) % len(ENTRY_TYPES)]
                    app = client_of[app_ids[(n + seq) % len(app_ids)]]
                    actor, role = (app, "vendor") if kind == "read" else (chain, "customer")
                    canonical = ledger.canonical_json({
                        "v": ledger.FORMAT_VERSION, "type": kind, "chain": chain, "seq": seq, "at": at,
                        "actor": actor, "actor_role": role, "vendor_app": app, "scopes": ["profile.name"],
                        "fields": ["given_name"] if kind != "grant" else [], "purpose": "Benchmarking.",
                        "details": {}})
                    digest = ledger.entry_hash(prev, chain, seq, kind, actor, role, app, at, canonical)
                    yield chain, seq, prev, digest, canonical, kind, actor, role, app, at_dt
                    prev = digest
                if count:
                    heads[chain] = (count, prev)

        n_entries = _copy(conn, "ledger_entries", ["chain", "seq", "prev_hash", "entry_hash", "canonical", "type",
                                                   "actor", "actor_role", "vendor_app", "created_at"], entry_rows())
        _copy(conn, "ledger_heads", ["chain", "seq", "head_hash"], ((c, s, h) for c, (s, h) in heads.items()))
        timings["ledger"] = _seconds(t0)
        for table in ("accounts", "vendor_apps", "grants", "vault_records", "ledger_entries"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))"))
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    timings["vacuum_analyze"] = _seconds(t0)
    return {"customers": customers, "apps": apps, "grants": n_grants, "ledger_entries": n_entries,
            "timings": timings}


# -- measurements ------------------------------------------------------------------------------

def _ms(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {"p50_ms": round(statistics.median(samples) * 1000, 2),
            "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 2)}


def measure(app, token: str) -> dict:
    from vendor_api import protector
    from vault import records
    inst = app.extensions["vrm"]
    out = {}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(50):
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    samples = []
    for _ in range(500):
        t = time.perf_counter()
        client.get("/api/v1/me", headers=headers)
        samples.append(time.perf_counter() - t)
    out["me_in_process"] = _ms(samples)

    with inst.sessions() as db:
        app_client = db.execute(text("SELECT client_id FROM vendor_apps WHERE client_id LIKE 'bench-app-%' "
                                     "ORDER BY id LIMIT 1 OFFSET 5")).scalar_one()
        chain = db.execute(text("SELECT chain FROM ledger_heads WHERE chain LIKE 'c_bench%' "
                                "ORDER BY chain LIMIT 1 OFFSET 77")).scalar_one()
        span = db.execute(text("SELECT min(created_at), max(created_at) FROM ledger_entries "
                               "WHERE chain LIKE 'c_bench%'")).one()
        mid = span[0] + (span[1] - span[0]) / 2
        searches = {
            "vendor+type+week": dict(vendor_app=app_client, types=["read"], start=mid, end=mid + timedelta(days=7)),
            "vendor newest": dict(vendor_app=app_client),
            "type=grant newest": dict(types=["grant"]),
            "customer chain": dict(chain=chain),
            "customer+vendor": dict(chain=chain, vendor_app=app_client),
            "everything, one day": dict(start=mid, end=mid + timedelta(days=1)),
        }
        out["officer_search"] = {}
        for name, filters in searches.items():
            samples = []
            for _ in range(5):
                t = time.perf_counter()
                page = ledger.search(db, limit=50, **filters)
                samples.append(time.perf_counter() - t)
                if page:  # and the next page, as the officer's "older" link does
                    ledger.search(db, limit=50, before_id=page[-1].id, **filters)
            out["officer_search"][name] = {"worst_ms": round(max(samples) * 1000, 1), "rows": len(page)}
        db.rollback()

        t = time.perf_counter()
        result = ledger.verify(db)
        seconds = time.perf_counter() - t
        out["verify"] = {"ok": result.ok, "entries": result.checked, "chains": result.chains,
                         "seconds": round(seconds, 1), "entries_per_s": int(result.checked / seconds)}
        db.rollback()

        conn = db.connection()
        lookup = protector._BY_HASH.statement.compile(conn, compile_kwargs={"literal_binds": False})
        explains = {
            "token lookup": (str(lookup), {"token_hash": "x" * 64}),
            "records read": (str(records._READ_ALL.statement.compile(conn)), {"account_id": 42}),
            "ledger head bump": ("SELECT seq, head_hash FROM ledger_heads WHERE chain = %(c)s", {"c": chain}),
            "officer vendor+type+week": (
                "SELECT * FROM ledger_entries WHERE vendor_app = %(a)s AND type = 'read' AND created_at >= %(s)s "
                "AND created_at < %(e)s ORDER BY created_at DESC, id DESC LIMIT 50",
                {"a": app_client, "s": mid, "e": mid + timedelta(days=7)}),
            "officer chain": ("SELECT * FROM ledger_entries WHERE chain = %(c)s ORDER BY created_at DESC, id DESC "
                              "LIMIT 50", {"c": chain}),
        }
        raw = conn.connection.dbapi_connection
        out["explain"] = {}
        with raw.cursor() as cur:
            for name, (sql, params) in explains.items():
                cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
                out["explain"][name] = [r[0] for r in cur.fetchall()]
        db.rollback()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--grants-per-customer", type=int, default=3)
    parser.add_argument("--ledger-entries", type=int, default=300_000)
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--measure-only", action="store_true", help="Skip generating; measure what is there.")
    args = parser.parse_args()
    os.environ.setdefault("VAULT_LOG_LEVEL", "WARNING")
    from web import create_app
    app = create_app({"VENDOR_API_RATELIMIT": "100000000 per minute"})
    demo = json.loads(app.test_cli_runner().invoke(args=["vault", "demo", "--json"]).output)
    report = {}
    if not args.measure_only:
        t0 = time.perf_counter()
        report["generated"] = generate(app.extensions["vrm"], customers=args.customers, apps=args.apps,
                                       grants_per_customer=args.grants_per_customer,
                                       ledger_entries=args.ledger_entries)
        report["generated"]["total"] = _seconds(t0)
    if args.measure or args.measure_only:
        report["measured"] = measure(app, demo["access_token"])
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
