"""Consent's domain errors; the API maps them to 401/403 problems, the portal to messages."""
from vault.errors import VaultError


class ConsentError(VaultError):
    """Base of consent errors."""


class GrantNotFound(ConsentError):
    """No grant between this customer and this app (or not visible to the asker)."""


class GrantInactive(ConsentError):
    """The grant was revoked or has expired: nothing may be read or written through it."""


class InvalidConsentChange(ConsentError):
    """A change that consent rules forbid, e.g. widening a grant without asking the customer."""
