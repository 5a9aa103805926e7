"""The vendor console: sign-up, organisations and members, apps, webhooks, registration tokens, and
a guide to the API. Views are thin; the rules live in :mod:`vendor_api.console` and friends."""
from __future__ import annotations

from . import apps, guide, org  # noqa: F401 (routes)
from .blueprint import bp

__all__ = ["bp"]
