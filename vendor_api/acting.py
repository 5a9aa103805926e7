"""The calling token as ``consent`` sees it, for the endpoints that act on one customer's vault
beyond the profile (purchases, contact permission): the consent-side view of the caller, and the
403 a missing scope earns."""
from __future__ import annotations

from typing import NoReturn

from authlib.oauth2.rfc6750 import InsufficientScopeError

from consent.vendor_access import ScopeMissing, VendorAccess
from vault import clock

from .context import get_db
from .protector import Caller, caller, require_oauth
from .reads import touch


def access_of(who: Caller) -> VendorAccess:
    """The consent-side view of the calling token: which app, which customer, which live grant."""
    return VendorAccess(account_id=who.account_id, chain=who.account_public_id, app_id=who.app_id,
                        client_id=who.client_id, grant=who.grant_state, token_scopes=who.scopes,
                        purpose=who.purpose, grant_public_id=who.grant_public_id)


def acting() -> VendorAccess:
    """The calling token as consent sees it, its grant's last access noted first: before the service
    appends to the ledger, so the grant row is locked before the chain head, as for every read."""
    who = caller()
    touch(get_db(), who, clock.utcnow())
    return access_of(who)


def refuse_scope(exc: ScopeMissing) -> NoReturn:
    """403 with RFC 6750 ``insufficient_scope``, exactly as the protector answers."""
    error = InsufficientScopeError(f"{exc} Ask the customer for {exc.scope}.")
    require_oauth.raise_error_response(error)
