"""The in-process rate-limit storage: same counting as ``memory://``, no timer thread per call."""
from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from web.limiter_storage import LazyMemoryStorage, storage_uri


def test_memory_maps_to_the_lazy_storage_and_redis_is_kept():
    assert storage_uri("memory://") == "vault-memory://"
    assert storage_uri("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert isinstance(storage_from_string("vault-memory://"), LazyMemoryStorage)


def test_it_limits_and_starts_no_thread_per_hit():
    storage = LazyMemoryStorage()
    limiter, limit = FixedWindowRateLimiter(storage), parse("3/minute")
    time.sleep(0.05)  # the one timer the base class starts at construction has fired
    before = threading.active_count()
    assert [limiter.hit(limit, "k") for _ in range(4)] == [True, True, True, False]
    assert threading.active_count() == before


def test_expired_keys_are_swept_inline(monkeypatch):
    storage = LazyMemoryStorage()
    storage.incr("once", expiry=0.01)
    time.sleep(0.02)
    monkeypatch.setattr(storage, "_next_sweep", 0.0)
    storage.incr("other", expiry=60)
    assert "once" not in storage.storage and storage.get("other") == 1
