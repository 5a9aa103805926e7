"""Change-feed benchmark: how long a vendor takes to sync N customers from `GET /api/v1/changes`.

A fresh instance on the given database (PostgreSQL by default: a dedicated database, dropped and
created), one vendor app, and one `consent.granted` event per customer for it, written in bulk
(``INSERT ... SELECT generate_series``) and left unsealed, as the worker finds them after a busy
day. Then:

1. the worker's sealing (``feed.seal_all``) numbers them all, timed;
2. a vendor client pages through the feed with `limit=500` until `has_more` is false, through the
   real app (Flask test client: routing, token check, sealing check, JSON), timed, and checks that
   every event arrived exactly once and in order.

    /work/venv/bin/python bench/change_feed.py --customers 100000

Issue 8's target: 100,000 customers delivered in < 60 s.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fresh_database(host: str, user: str, name: str) -> str:
    for cmd in (["dropdb", "--if-exists"], ["createdb"]):
        subprocess.run([*cmd, "-h", host, "-U", user, name], check=True)
    return f"postgresql+psycopg://{user}@{host}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-user", default="root")
    parser.add_argument("--database", default="bench_feed")
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()

    from sqlalchemy import text

    from consent import feed
    from vault.db import unit_of_work
    from vendor_api import clients, tokens
    from web import create_app

    url = fresh_database(args.pg_host, args.pg_user, args.database)
    app = create_app({"database_url": url, "instance_path": Path(tempfile.mkdtemp()), "log_level": "WARNING",
                      "VENDOR_API_RATELIMIT": "1000000/minute"})
    sessions = app.extensions["vrm"].sessions
    with unit_of_work(sessions) as db:
        org = clients.create_org(db, name="Feed Bench Ltd", website="https://feed.example",
                                 contact_email="privacy@feed.example")
        vendor, _client, _secret = clients.register_app(
            db, org=org, name="Feed Bench CRM", website="https://feed.example", purpose="Sync.",
            scopes=["profile.name"], redirect_uris=["https://feed.example/cb"])
        token = tokens.issue(db, app_id=vendor.id, scope="vendor:read", grant_type="client_credentials").access_token
        app_id = vendor.id

    started = time.perf_counter()
    with unit_of_work(sessions) as db:
        db.execute(text("""
            INSERT INTO app_events (public_id, app_id, type, subject, chain, data_json, created_at, in_feed)
            SELECT 'evt_bench_' || n, :app, 'consent.granted', 's_' || md5(n::text), 'c_' || n,
                   '{"grant":"g_' || n || '","scopes":["profile.name"]}', now(), true
            FROM generate_series(1, :n) AS n"""), {"app": app_id, "n": args.customers})
    written = time.perf_counter() - started

    started = time.perf_counter()
    sealed = 0
    while True:
        with unit_of_work(sessions) as db:
            n = feed.seal_all(db, limit=10_000)
        if not n:
            break
        sealed += n
    sealing = time.perf_counter() - started

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    cursor, seen, pages, last = None, 0, 0, 0
    started = time.perf_counter()
    while True:
        query = {"limit": args.page, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/changes", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        body = response.get_json()
        for event in body["events"]:
            assert event["position"] == last + 1, "the feed skipped or repeated an event"
            last = event["position"]
        seen += len(body["events"])
        pages += 1
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    delivering = time.perf_counter() - started
    assert seen == args.customers, (seen, args.customers)
    print(json.dumps({"customers": args.customers, "events_written_s": round(written, 2),
                      "sealed": sealed, "sealing_s": round(sealing, 2), "pages": pages,
                      "delivery_s": round(delivering, 2),
                      "events_per_s": round(seen / delivering), "target": "< 60 s for 100,000"}, indent=2))


if __name__ == "__main__":
    main()
