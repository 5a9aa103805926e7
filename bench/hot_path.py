"""Hot-path benchmark: /healthz vs /api/v1/me under gunicorn, on SQLite and PostgreSQL, back to back.

For each database kind: a fresh instance (own folder; on PostgreSQL a dedicated database that is
dropped and created), `vault demo --json` for a customer with a filled vault and an access token,
gunicorn with 2 sync workers on 127.0.0.1, a short warm-up, then `wrk -t2 -c16 -d10s --latency`
against /healthz and straight after against /api/v1/me with the bearer header, repeated
``--rounds`` times (3) so that a noisy neighbour on this shared machine hits both alike; the
round with the median ratio is reported. Prints req/s, the ratio, p99, non-2xx counts, and
checks that every /me answer left exactly one ledger entry.

    /work/venv/bin/python bench/hot_path.py                 # both kinds
    /work/venv/bin/python bench/hot_path.py --kinds sqlite --duration 5

Only loopback traffic; every run is bounded by wrk's duration. Needs wrk (apt-get install wrk)
and, for PostgreSQL, a server reachable as --pg-admin (createdb/dropdb rights).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TARGETS = {"sqlite": 0.50, "postgresql": 0.35}
P99_TARGET_MS = 25.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_database(admin_host: str, user: str, name: str) -> str:
    for cmd in (["dropdb", "--if-exists"], ["createdb"]):
        subprocess.run([*cmd, "-h", admin_host, "-U", user, name], check=True)
    return f"postgresql+psycopg://{user}@{admin_host}/{name}"


def flask(env: dict, *args: str) -> str:
    out = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True)
    return out.stdout


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, *, threads: int, conns: int, duration: int, header: str | None = None,
        script: Path | None = None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    if header:
        cmd += ["-H", header]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "p50": pct.get("50"), "p99": pct.get("99"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else None}


def ledger_count(env: dict, chain: str) -> int:
    code = ("import sys; from sqlalchemy import func, select; from web import create_app; "
            "from consent.ledger import LedgerEntry; app = create_app(); "
            "db = app.extensions['vrm'].sessions(); "
            "print(db.scalar(select(func.count()).where(LedgerEntry.chain == sys.argv[1])))")
    out = subprocess.run([sys.executable, "-c", code, chain], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def more_customers(env: dict, client_id: str, n: int) -> list[tuple[str, str]]:
    """``n`` customers with a filled vault, each granting the demo app what the demo customer
    granted, and an access token each: [(chain, token)]. Made through the services."""
    code = """
import json, sys
from consent import grants
from consent.models import Grant, VendorApp
from sqlalchemy import select
from vault import accounts, records
from vendor_api import tokens
from vendor_api.cli import demo_context
from web import create_app
from web.cli import DEMO_CUSTOMER, DEMO_PROFILE
app = create_app()
inst = app.extensions["vrm"]
db = inst.sessions()
vendor = db.scalar(select(VendorApp).where(VendorApp.client_id == sys.argv[1]))
template = db.scalar(select(Grant).where(Grant.app_id == vendor.id))
out = []
for i in range(int(sys.argv[2])):
    who = accounts.sign_up(db, f"bench{i}@example.com", "bench-password-" + "x" * 12)
    records.write_fields(db, inst.keys, who, DEMO_PROFILE)
    grant = grants.grant(db, demo_context(inst), customer=who, app=vendor, scopes=list(template.scopes)).grant
    issued = tokens.issue(db, app_id=vendor.id, scope=" ".join(template.scopes), grant_type="authorization_code",
                          grant=grant)
    out.append((who.public_id, issued.access_token))
db.commit()
print(json.dumps(out))
"""
    out = subprocess.run([sys.executable, "-c", code, client_id, str(n)], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return [tuple(pair) for pair in json.loads(out.stdout.strip().splitlines()[-1])]


def rotating_tokens_script(folder: Path, tokens: list[str]) -> Path:
    """A wrk Lua script sending each request with the next customer's token."""
    script = folder / "tokens.lua"
    listed = ", ".join(f'"{t}"' for t in tokens)
    script.write_text(f"""tokens = {{{listed}}}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", nil, {{["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]}})
end
""")
    return script


def customer_chain(env: dict, email: str) -> str:
    code = ("import sys; from web import create_app; from vault import accounts; app = create_app(); "
            "db = app.extensions['vrm'].sessions(); print(accounts.find_by_email(db, sys.argv[1]).public_id)")
    out = subprocess.run([sys.executable, "-c", code, email], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def run_kind(kind: str, args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"vv-bench-{kind}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_INSTANCE_PATH=str(folder), VAULT_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    if kind == "postgresql":
        env["VAULT_DATABASE_URL"] = pg_database(args.pg_host, args.pg_user, args.pg_db)
    demo = json.loads(flask(env, "vault", "demo", "--json"))
    token, chain = demo["access_token"], customer_chain(env, demo["customer_email"])
    chains, script = [chain], None
    if args.customers > 1:
        extra = more_customers(env, demo["client_id"], args.customers - 1)
        chains += [c for c, _t in extra]
        script = rotating_tokens_script(folder, [token] + [t for _c, t in extra])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = ["-k", "sync"] if args.worker_threads <= 1 else ["-k", "gthread", "--threads", str(args.worker_threads)]
    proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", str(args.workers), *worker,
                             "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT), "bench.wsgi_bench:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "gunicorn.log", "w"))
    try:
        wait_ready(base, proc)
        auth = f"Authorization: Bearer {token}"
        common = dict(threads=args.threads, conns=args.connections)
        wrk(base + "/healthz", duration=2, **common)  # warm-up: imports, pools, caches
        wrk(base + "/api/v1/me", duration=2, header=None if script else auth, script=script, **common)
        rounds = []
        for _ in range(args.rounds):  # alternate, so a noisy neighbour hits both sides alike
            before = sum(ledger_count(env, c) for c in chains)
            health = wrk(base + "/healthz", duration=args.duration, **common)
            me = wrk(base + "/api/v1/me", duration=args.duration, header=None if script else auth,
                     script=script, **common)
            written = sum(ledger_count(env, c) for c in chains) - before
            rounds.append({"healthz": health, "me": me, "ratio": me["rps"] / health["rps"],
                           "ledger_entries_written": written})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return {"kind": kind, **median, "rounds": rounds}


def report(r: dict) -> None:
    h, m = r["healthz"], r["me"]
    target = TARGETS[r["kind"]]
    print(f"\n== {r['kind']} ==")
    if len(r["rounds"]) > 1:
        print("  rounds: " + ", ".join(f"{x['me']['rps']:.0f}/{x['healthz']['rps']:.0f} = {x['ratio']:.0%}"
                                       for x in r["rounds"]) + "; the median round:")
    print(f"  /healthz     {h['rps']:9.0f} req/s   p50 {h['p50']:6.2f} ms   p99 {h['p99']:6.2f} ms   "
          f"non-2xx {h['non2xx']}")
    print(f"  /api/v1/me   {m['rps']:9.0f} req/s   p50 {m['p50']:6.2f} ms   p99 {m['p99']:6.2f} ms   "
          f"non-2xx {m['non2xx']}")
    print(f"  ratio {r['ratio']:.0%} (target >= {target:.0%}: {'met' if r['ratio'] >= target else 'MISSED'}); "
          f"p99 {m['p99']:.2f} ms (target <= {P99_TARGET_MS:.0f} ms: "
          f"{'met' if m['p99'] <= P99_TARGET_MS else 'MISSED'})")
    # wrk counts requests finished when the clock stops; a few in flight may still commit after.
    print(f"  ledger entries written during the /me run: {r['ledger_entries_written']} "
          f"(wrk completed {m['requests']})")
    if m["socket_errors"]:
        print(f"  socket errors: {m['socket_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["sqlite", "postgresql"], choices=sorted(TARGETS))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="Alternating /healthz and /me runs; the round with the median ratio is reported.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1,
                        help="Customers whose tokens the /me requests rotate over (1: the demo customer only).")
    parser.add_argument("--worker-threads", type=int, default=1,
                        help="Threads per gunicorn worker (gthread); 1 means sync workers.")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-user", default="root")
    parser.add_argument("--pg-db", default="bench_hot")
    parser.add_argument("--keep", action="store_true", help="Keep the instance folders.")
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results = [run_kind(kind, args) for kind in args.kinds]
    for r in results:
        report(r)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
