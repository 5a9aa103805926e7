"""Where people land, and the check that keeps ``next=`` from becoming an open redirect."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (SECURITY.md 2)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def home_for(account) -> str:
    if account.role == "customer":
        return url_for("customer.dashboard")
    if account.role == "officer":
        return url_for("privacy.log")
    if account.role == "vendor":
        return url_for("vendor_console.home")
    return url_for("main.account")
