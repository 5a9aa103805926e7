"""Who is acting when a vendor's software calls on one customer: the live grant a token carries.

The vendor API authenticates the token and hands consent this plain value (consent knows nothing
of OAuth). Services ask :meth:`VendorAccess.fields` -- which is :func:`consent.policy.permitted_fields`
and nothing else -- before they read or write, so the policy stays the one judge.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import ConsentError
from .policy import GrantState, effective_scopes, permitted_fields


class ScopeMissing(ConsentError):
    """The grant (as narrowed by the token) does not cover what was asked; ``scope`` names what would."""

    def __init__(self, scope: str, message: str | None = None):
        super().__init__(message or f"This needs the customer's {scope} consent.")
        self.scope = scope


@dataclass(frozen=True)
class VendorAccess:
    """One app acting for one customer through one token, at the grant's state of this request."""

    account_id: int
    chain: str  # the customer's public id: their ledger chain
    app_id: int
    client_id: str
    grant: GrantState
    token_scopes: tuple[str, ...] | None = None
    purpose: str | None = None
    grant_public_id: str | None = None

    def fields(self, access: str, now: datetime) -> frozenset[str]:
        """The fields (and pseudo-fields such as ``purchases``) this access may ``access`` now."""
        return permitted_fields(self.grant, access, now=now, token_scopes=self.token_scopes)

    def scopes(self) -> list[str]:
        return sorted(effective_scopes(self.grant, self.token_scopes))

    def require(self, field: str, access: str, scope: str, now: datetime) -> None:
        """Raise :class:`ScopeMissing` naming ``scope`` unless the policy lets this access reach ``field``."""
        if field not in self.fields(access, now):
            raise ScopeMissing(scope)
