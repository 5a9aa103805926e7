"""In-process rate-limit storage without a timer thread per request.

``limits``' ``memory://`` storage starts a ``threading.Timer`` whenever the previous one has
fired (every 10 ms under load) to drop expired counters. On the API's hot path that thread
churn was ~9% of a request's CPU (profile in bench/RESULTS.md). Fixed-window counters already
expire lazily when read (``MemoryStorage.get``), so this storage only sweeps the rest (keys
never seen again, moving-window events) inline, at most once a minute. Same semantics, same
scheme for the operator: ``memory://`` is mapped to it by the app factory; Redis URLs are
untouched (several app servers share limits through Redis).
"""
from __future__ import annotations

import time

from limits.storage import MemoryStorage

SCHEME = "vault-memory"


class LazyMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = [SCHEME]
    #: Seconds between inline sweeps of expired keys (bounds memory held by one-off keys).
    SWEEP_SECONDS = 60.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._next_sweep = time.time() + self.SWEEP_SECONDS

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the timer thread (name-mangled)
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()


def storage_uri(configured: str) -> str:
    """``memory://`` (the default) becomes this storage; anything else is kept as configured."""
    return f"{SCHEME}://" if configured.strip() == "memory://" else configured
