"""Domain errors of the vault core.

They carry a sentence meant for a person (an operator at start-up, a customer in the portal);
the HTTP and CLI edges decide how to show them.
"""


class VaultError(Exception):
    """Base class of every error the vault core raises on purpose."""


class ConfigError(VaultError):
    """The configuration cannot work: start-up stops with this one sentence."""


class KeyUnavailable(VaultError):
    """A key-encryption key needed to unwrap a data key is not in the key provider."""


class DecryptionFailed(VaultError):
    """A ciphertext did not authenticate: wrong key, moved value, or tampering."""


class CustomerErased(VaultError):
    """The customer's data key is gone: their data is unreadable by design."""


class ValidationFailed(VaultError):
    """Input did not pass its schema; ``errors`` maps field names to messages."""

    def __init__(self, errors):
        super().__init__("The input is not valid.")
        self.errors = errors


class AccountError(VaultError):
    """Sign-up or login could not go ahead; the message is safe to show."""


class NotFound(VaultError):
    """The thing asked for does not exist (or is not visible to the asker)."""
