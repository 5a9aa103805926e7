"""The privacy officers' blueprint and the two things every one of its views does.

Every page is for officers with an enrolled authenticator (:func:`officer_page`), and every page
records itself in the ledger as an ``officer_view`` (:func:`record_view`): officers are watched
the way they watch vendors.
"""
from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from consent import reports
from vendor_api.context import get_db

from ..auth.roles import role_required
from ..auth.two_factor import two_factor_required

bp = Blueprint("privacy", __name__)


def officer_page(view):
    """Logged in, role officer, and TOTP enrolled (else enrolment first)."""
    return role_required("officer")(two_factor_required(view))


def record_view(view: str, *, chain: str | None = None, details: dict | None = None, now=None):
    """Append this request's ``officer_view`` entry (committed with the response, like any write)."""
    return reports.record_officer_view(get_db(), current_user.public_id, view, chain=chain, details=details,
                                       now=now)
