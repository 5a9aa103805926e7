"""Ed25519 signing keys for consent receipts and ledger checkpoints.

Why a keyring and not one key: a receipt handed to a customer or vendor must stay verifiable
after the vault rotates its signing key. So the ring holds one *active* private key (the only
one that signs) and the *public* halves of the keys it replaced (verify only). Retired private
keys are dropped on rotation: nothing needs them, and a key that no longer exists cannot leak.

Each key's ``kid`` is its RFC 7638 JWK thumbprint (SHA-256, base64url). It is derived from the
key itself, so it cannot collide or drift, and anyone holding the public JWK can recompute it.

Storage: a JSON file (mode 0600, created atomically, never overwritten by start-up) or, for
containers, the same JSON base64url-encoded in an environment value. Format::

    {"format": "vrm-vault-signing-keyring/1",
     "active": {"kid": "...", "d": "<base64url 32-byte Ed25519 seed>"},
     "retired": [{"kid": "...", "x": "<base64url 32-byte public key>"}]}
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from ..errors import ConfigError

SIGNING_KEYRING_FORMAT = "vrm-vault-signing-keyring/1"
JWS_ALG = "Ed25519"  # RFC 9864 fully-specified name (joserfc deprecates the older "EdDSA")
_RAW_KEY_BYTES = 32


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as JOSE uses everywhere."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url_encode` (padding optional, alphabet enforced)."""
    if not isinstance(text, str):
        raise ValueError("expected a base64url string")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not base64url") from exc


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def jwk_thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint of an Ed25519 OKP key: the required members in lexicographic order."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(_raw_public(public_key))}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return b64url_encode(hashlib.sha256(canonical).digest())


@dataclass(frozen=True)
class VerificationKey:
    """A public key the ring verifies with: the active key's public half, or a retired key."""

    kid: str
    public_key: Ed25519PublicKey = field(repr=False)

    def public_jwk(self) -> dict:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(_raw_public(self.public_key)),
            "kid": self.kid,
            "alg": JWS_ALG,
            "use": "sig",
        }


@dataclass(frozen=True)
class SigningKey:
    """The active key: the only one that signs."""

    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def from_private(cls, private_key: Ed25519PrivateKey) -> "SigningKey":
        return cls(kid=jwk_thumbprint(private_key.public_key()), private_key=private_key)

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls.from_private(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.kid, self.public_key)

    def public_jwk(self) -> dict:
        return self.verification_key().public_jwk()

    def seed(self) -> bytes:
        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


class SigningKeyring:
    """One active Ed25519 key plus retired public keys; see the module docstring for why."""

    def __init__(self, active: SigningKey, retired: list[VerificationKey] | None = None,
                 path: Path | None = None):
        self._lock = threading.Lock()
        self._active = active
        self._retired: dict[str, VerificationKey] = {k.kid: k for k in (retired or []) if k.kid != active.kid}
        self._path = path

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def generate(cls) -> "SigningKeyring":
        """A fresh in-memory ring (tests, or a first start before it is written anywhere)."""
        return cls(SigningKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> "SigningKeyring":
        """Open the keyring file at ``path``, creating it (0600, atomically) only if it is absent.

        An existing file that cannot be read or parsed is a :class:`ConfigError` and is left
        untouched: a fresh key in its place would silently orphan every receipt signed so far.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            fresh = cls.generate()
            try:
                created = _create_private_file(path, fresh._dumps())
            except OSError as exc:
                raise ConfigError(
                    f"The signing keyring {path} could not be created ({exc.strerror or exc}).") from None
            if created:
                fresh._path = path
                return fresh
            return cls.load_or_create(path)  # another worker won the race: use its key
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise ConfigError(
                f"The signing keyring {path} cannot be read ({reason}); fix or restore it, "
                "it is never replaced automatically.") from None
        ring = cls._parse(text, f"The signing keyring {path}")
        ring._path = path
        return ring

    @classmethod
    def from_env(cls, value: str) -> "SigningKeyring":
        """Parse the keyring JSON given base64url-encoded, e.g. from ``VAULT_SIGNING_KEYRING``."""
        try:
            text = b64url_decode(value.strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError, AttributeError):
            raise ConfigError("The signing keyring environment value is not base64url-encoded JSON.") from None
        return cls._parse(text, "The signing keyring environment value")

    @classmethod
    def _parse(cls, text: str, source: str) -> "SigningKeyring":
        """``source`` starts the error sentence, e.g. "The signing keyring /srv/signing.json"."""
        try:
            data = json.loads(text)
            if data.get("format") != SIGNING_KEYRING_FORMAT:
                raise ValueError("unknown format")
            seed = b64url_decode(data["active"]["d"])
            if len(seed) != _RAW_KEY_BYTES:
                raise ValueError("bad key size")
            active = SigningKey.from_private(Ed25519PrivateKey.from_private_bytes(seed))
            if data["active"]["kid"] != active.kid:
                raise ValueError("kid does not match key")
            retired = []
            for entry in data.get("retired", []):
                raw = b64url_decode(entry["x"])
                if len(raw) != _RAW_KEY_BYTES:
                    raise ValueError("bad key size")
                public = Ed25519PublicKey.from_public_bytes(raw)
                if entry["kid"] != jwk_thumbprint(public):
                    raise ValueError("kid does not match key")
                retired.append(VerificationKey(entry["kid"], public))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(
                f"{source} is not a valid VRM Vault signing keyring "
                "(corrupt JSON, unknown format, or a key that does not match its kid).") from None
        return cls(active, retired)

    # -- serialisation -------------------------------------------------------------------------

    def _dumps(self) -> str:
        return json.dumps({
            "format": SIGNING_KEYRING_FORMAT,
            "active": {"kid": self._active.kid, "d": b64url_encode(self._active.seed())},
            "retired": [{"kid": k.kid, "x": b64url_encode(_raw_public(k.public_key))}
                        for k in self._retired.values()],
        }, indent=2)

    def to_env(self) -> str:
        """The value :meth:`from_env` accepts (contains the private key: treat as a secret)."""
        return b64url_encode(self._dumps().encode("utf-8"))

    # -- use -----------------------------------------------------------------------------------

    @property
    def active(self) -> SigningKey:
        return self._active

    @property
    def path(self) -> Path | None:
        return self._path

    def kids(self) -> list[str]:
        """Active kid first, then retired ones (oldest first)."""
        return [self._active.kid, *self._retired]

    def rotate(self) -> SigningKey:
        """Make a new key active; the old one stays for verification. Persisted when file-backed.

        The file is written before the new key is used, so a crash cannot leave signatures by a
        key that was never saved.
        """
        with self._lock:
            new = SigningKey.generate()
            retired = dict(self._retired)
            retired[self._active.kid] = self._active.verification_key()
            candidate = SigningKeyring(new, list(retired.values()))
            if self._path is not None:
                _write_private_file(self._path, candidate._dumps())
            self._retired = retired
            self._active = new
            return new

    def public_jwks(self) -> dict:
        """JWKS of every key that verifies: publish this, it is all a verifier needs."""
        return {"keys": [self._active.public_jwk(), *(k.public_jwk() for k in self._retired.values())]}

    def sign(self, data: bytes) -> tuple[str, bytes]:
        active = self._active  # one read: a concurrent rotate cannot pair the wrong kid and key
        return active.kid, active.private_key.sign(bytes(data))

    def verify(self, kid: str, data: bytes, signature: bytes) -> bool:
        key = self._public_key(kid)
        if key is None:
            return False
        try:
            key.verify(bytes(signature), bytes(data))
            return True
        except (InvalidSignature, TypeError, ValueError):
            return False

    def _public_key(self, kid: str) -> Ed25519PublicKey | None:
        active = self._active
        if kid == active.kid:
            return active.public_key
        retired = self._retired.get(kid)
        return retired.public_key if retired else None


# -- private files -----------------------------------------------------------------------------

def _open_private_tmp(path: Path) -> tuple[Path, int]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _write_all(fd: int, text: str) -> None:
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _create_private_file(path: Path, text: str) -> bool:
    """Create ``path`` (0600) only if absent; True if this call created it.

    The finished temp file is hard-linked into place, which fails if the name exists, so two
    workers starting together cannot overwrite each other's fresh key (``os.replace`` could).
    """
    tmp, fd = _open_private_tmp(path)
    try:
        _write_all(fd, text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _write_private_file(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (0600): readers see the old or the new ring."""
    tmp, fd = _open_private_tmp(path)
    try:
        _write_all(fd, text)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
