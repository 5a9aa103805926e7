"""The vendor API's per-client rate limit, hit straight through ``limits`` on the hot path.

Flask-Limiter finds, filters and resolves the limits that apply to each request and then
injects its headers: ~250 µs of a ~1.1 ms ``/api/v1/me`` call (bench/RESULTS.md), spent to
find what is always the same answer here — one limit per caller. So the API blueprints are
left out of Flask-Limiter (a request filter) and limited here, with the very strategy and
storage Flask-Limiter built from the app's configuration (memory in one process, Redis across
app servers), the same headers and the same 429 with ``Retry-After``. The portal's and the
token endpoint's limits stay with Flask-Limiter.
"""
from __future__ import annotations

import math
import time
from functools import lru_cache

from flask import g
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

#: Namespace of the API's counters in the shared storage (apart from Flask-Limiter's own).
NAMESPACE = "vendor-api"


@lru_cache(maxsize=32)
def limits_of(text: str) -> tuple[RateLimitItem, ...]:
    """``"600 per minute"`` or ``"10/second;600/minute"``, parsed once per distinct setting."""
    return tuple(parse_many(text))


def hit(strategy, limit_text: str, key: str) -> None:
    """Count one request of ``key`` against every limit of ``limit_text``; 429 once one is spent.

    The tightest limit's figures are kept for :func:`add_headers`, as Flask-Limiter reports them.
    """
    shown = None
    for item in limits_of(limit_text):
        allowed = strategy.hit(item, NAMESPACE, key)
        stats = strategy.get_window_stats(item, NAMESPACE, key)
        if not allowed:
            g.vv_rate_limit = (item, stats)
            raise TooManyRequests(retry_after=max(1, math.ceil(stats.reset_time - time.time())))
        if shown is None or stats.remaining < shown[1].remaining:
            shown = (item, stats)
    g.vv_rate_limit = shown


def add_headers(response):
    """``X-RateLimit-Limit/-Remaining/-Reset`` (and ``Retry-After`` on a 429), as Flask-Limiter sends."""
    shown = g.pop("vv_rate_limit", None)
    if shown is not None:
        item, stats = shown
        reset = int(stats.reset_time)
        # Appended, not set: nothing else writes these on the API (Flask-Limiter leaves it alone).
        response.headers.add("X-RateLimit-Limit", str(item.amount))
        response.headers.add("X-RateLimit-Remaining", str(max(0, stats.remaining)))
        response.headers.add("X-RateLimit-Reset", str(reset))
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, math.ceil(stats.reset_time - time.time())))
    return response
