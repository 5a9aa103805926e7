"""Soak: mixed load for a while; worker memory stays flat and no response is a server error.

CI runs a short soak (``VAULT_SOAK_SECONDS``, default 20 s); the full ten minutes of issue 8 is
``VAULT_SOAK_SECONDS=600 pytest tests/test_soak.py``. Memory is the resident set of each gunicorn
worker, sampled once a second; "flat" means the second half of the run grows no more than a small
allowance over the first half (allocator warm-up lands in the first half).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.load import Load
from tests.servers import Gunicorn, app_env, seed_demo

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("VAULT_SOAK_SECONDS", "20"))
#: Growth allowed from the first half's peak to the second half's peak, per worker.
ALLOWED_GROWTH_KB = 8 * 1024
#: What the load may legitimately see: success, redirects after forms, and rate limiting.
EXPECTED = {200, 303, 429}


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def test_memory_stays_flat_and_nothing_fails_under_mixed_load(fresh_database, tmp_path):
    env = app_env(fresh_database.url, tmp_path / "instance")
    seeded = seed_demo(env)
    samples: dict[int, list[tuple[float, int]]] = {}
    with Gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server:
        load = Load(server.base, seeded).start()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
            for pid in server.workers():
                rss = _rss_kb(pid)
                if rss is not None:
                    samples.setdefault(pid, []).append((elapsed, rss))
            time.sleep(1.0)
        tally = load.stop()

    unexpected = {status: n for status, n in tally.statuses.items() if status not in EXPECTED}
    why = [line for line in (tmp_path / "gunicorn.log").read_text(errors="replace").splitlines()
           if "unavailable" in line or "Traceback" in line or "Error" in line][-10:]
    assert not unexpected, f"unexpected responses: {unexpected}; server log says: {why}"
    assert tally.reads_acked > 0 and tally.notes_acked and tally.renews_acked > 0

    assert len(samples) == 2, "a worker was replaced during the soak (it crashed or was recycled)"
    half = SOAK_SECONDS / 2
    for pid, series in samples.items():
        first = max(rss for t, rss in series if t < half)
        second = max(rss for t, rss in series if t >= half)
        assert second - first <= ALLOWED_GROWTH_KB, f"worker {pid} grew {second - first} kB: {series}"
