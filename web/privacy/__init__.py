"""Privacy officers' portal: the consent and access log, ledger integrity, and reports."""
from __future__ import annotations

from . import integrity, log, reports  # noqa: F401 (routes)
from .blueprint import bp

__all__ = ["bp"]
