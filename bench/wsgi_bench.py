"""The app the benchmarks serve: the normal app, with the vendor API rate limit raised by config.

The per-client limit (VENDOR_API_RATELIMIT, 600/min by default) would answer 429 within a
second of load; benchmarks measure the path, so they lift the limit through configuration
(`create_app(config)`), leaving the limiter itself, and every default, in place.
"""
import os

from web import create_app

app = create_app({"VENDOR_API_RATELIMIT": os.environ.get("BENCH_API_RATELIMIT", "100000000 per minute")})
