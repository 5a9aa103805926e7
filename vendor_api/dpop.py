"""DPoP proofs (RFC 9449): the checks that make a token usable only with its client's private key.

Authlib has no DPoP support, so the proof is checked here, with joserfc for JWS and JWK:

* the header: ``typ`` is ``dpop+jwt``; ``alg`` is one of :data:`ALGORITHMS` (asymmetric only: no
  ``none``, no HMAC); ``jwk`` is a public key with no private member; nothing critical (``crit``,
  ``b64``) that would change how the signature is read;
* the signature verifies with that ``jwk``;
* the claims: ``htm`` and ``htu`` name this request (``htu`` compared without query and fragment,
  after the normalisation of RFC 3986 §6.2.2-6.2.3), ``iat`` is within :data:`IAT_WINDOW` of our
  clock, ``jti`` was never seen with this key, and ``ath`` is the hash of the access token when
  one is presented;
* :func:`remember` records the ``jti`` in the database (several processes answer requests, so no
  memory cache would do) for as long as the proof could be accepted;
* with ``VAULT_DPOP_NONCE=true``, a ``nonce`` we issued not long ago (RFC 9449 §8, §9), so a
  proof cannot be signed ahead of time: without one the answer is ``use_dpop_nonce`` with a fresh
  nonce in the ``DPoP-Nonce`` header, and every answer to a request with a proof carries the
  current one. Nonces are stateless — an HMAC of the current time slot under a key derived from
  the instance secret — so every app server issues and accepts the same ones.

:func:`check` and :func:`remember` take ``now`` and the database session as arguments;
:func:`verify_request` applies them to the current Flask request. The ``jti`` is recorded in the
request's own transaction: a request that fails leaves its proof unspent, so the very same
request may be repeated within the minute, but nothing else (the proof names method, URL and
token). A separate committed transaction would close that gap at the price of a second
connection per call, and on SQLite would wait on a writer lock the request may already hold.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from flask import request
from joserfc import jwk, jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vault import clock
from vault.crypto import derive_key

from .context import derived_secret, get_db, instance
from .models import DPoPProofSeen

#: Signing algorithms accepted in proofs (also in the server metadata and ``WWW-Authenticate``).
ALGORITHMS = ("ES256", "EdDSA", "RS256")
#: How far a proof's ``iat`` may be from our clock, either way.
IAT_WINDOW = timedelta(seconds=60)
#: A proof longer than this is refused before it is parsed (an RSA-4096 proof is ~2.5 kB).
MAX_PROOF_LENGTH = 6000
#: JWK members that only private (or symmetric) keys carry (RFC 7518 §6, RFC 8037 §2).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
KEY_TYPES = frozenset({"EC", "RSA", "OKP"})
MIN_RSA_BITS = 2048
MAX_JTI_LENGTH = 256


#: Server nonces are made per time slot of this length and accepted in their slot and the next:
#: a nonce is good for 5 to 10 minutes, and a client is given the current one on every answer.
NONCE_SLOT_SECONDS = 300


class InvalidProof(Exception):
    """The proof is missing, malformed, or does not fit the request (``invalid_dpop_proof``)."""

    error = "invalid_dpop_proof"


class NonceNeeded(InvalidProof):
    """The proof carries no nonce, or one that is not ours or no longer fresh (``use_dpop_nonce``):
    the client retries with the nonce in the answer's ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"


class _Registry(jws.JWSRegistry):
    # A proof carries its public key in the header: an RSA key is longer than joserfc's default
    # 512-byte header limit. Payloads are a handful of claims.
    max_header_length = 2048
    max_payload_length = 2048

    def get_alg(self, name: str):
        # Exactly our list, without joserfc's warning that RFC 9864 deprecates "EdDSA" in favour
        # of "Ed25519": RFC 9449 and its clients still say "EdDSA", and the key decides the curve.
        if name not in ALGORITHMS:
            raise UnsupportedAlgorithmError(f"Algorithm {name!r} is not accepted in DPoP proofs.")
        return self.algorithms[name]


REGISTRY = _Registry(algorithms=ALGORITHMS, strict_check_header=False)


@dataclass(frozen=True)
class Proof:
    jkt: str
    jti: str
    iat: datetime


#: A JWK SHA-256 thumbprint (RFC 7638) as RFC 9449 writes it: base64url, no padding, 43 characters.
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")


def is_thumbprint(value: str) -> bool:
    return isinstance(value, str) and _THUMBPRINT.fullmatch(value) is not None


def b64_sha256(value: str) -> str:
    """base64url(SHA-256(value)) without padding: the form of ``ath`` (and of a JWK thumbprint)."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode("ascii", "replace")).digest()).rstrip(b"=").decode()


def normalize_url(url: str) -> str:
    """Scheme and host in lower case, default port dropped, no query or fragment, path kept."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and (scheme, port) not in (("https", 443), ("http", 80)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def _public_key(header: dict):
    key = header.get("jwk")
    if not isinstance(key, dict) or key.get("kty") not in KEY_TYPES:
        raise InvalidProof("The proof's header must carry the public key as 'jwk' (EC, RSA or OKP).")
    if PRIVATE_MEMBERS & set(key):
        raise InvalidProof("The proof's 'jwk' must be a public key: it carries private key material.")
    try:
        imported = jwk.import_key(key)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidProof("The proof's 'jwk' is not a valid key.") from exc
    if key["kty"] == "RSA" and len(base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))) * 8 \
            < MIN_RSA_BITS:
        raise InvalidProof(f"RSA keys must have at least {MIN_RSA_BITS} bits.")
    return imported


def _parse(value: str):
    """(header, claims, key) of a proof whose signature verifies with its own ``jwk``."""
    if not isinstance(value, str) or not value or len(value) > MAX_PROOF_LENGTH or value.count(".") != 2:
        raise InvalidProof("The DPoP header must hold one JWT in compact form.")
    try:
        obj = jws.extract_compact(value.encode("ascii"), registry=REGISTRY)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidProof("The DPoP proof is not a well-formed JWT.") from exc
    header = obj.headers()
    if header.get("typ") != "dpop+jwt":
        raise InvalidProof("The proof's 'typ' must be 'dpop+jwt'.")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidProof(f"The proof's 'alg' must be one of {', '.join(ALGORITHMS)}.")
    if "crit" in header or "b64" in header:
        raise InvalidProof("The proof must not carry critical header parameters.")
    key = _public_key(header)
    try:
        valid = jws.validate_compact(obj, key, registry=REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidProof("The proof's signature does not fit its 'alg' and 'jwk'.") from exc
    if not valid:
        raise InvalidProof("The proof's signature does not verify with its 'jwk'.")
    try:
        claims = json.loads(obj.payload)
    except ValueError as exc:
        raise InvalidProof("The proof's payload is not JSON.") from exc
    if not isinstance(claims, dict):
        raise InvalidProof("The proof's payload must be a JSON object.")
    return header, claims, key


def _issued_at(claims: dict, now: datetime) -> datetime:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise InvalidProof("The proof needs a numeric 'iat'.")
    try:
        issued = datetime.fromtimestamp(iat, timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidProof("The proof's 'iat' is out of range.") from exc
    if abs(issued - now) > IAT_WINDOW:
        raise InvalidProof("The proof's 'iat' is too far from the current time.")
    return issued


def derive_nonce_secret(master: str | bytes) -> bytes:
    """The key server nonces are made with, derived from the instance secret (never used raw)."""
    return derive_key(master, b"vrm-vault dpop nonce v1")


def _nonce_for_slot(secret: bytes, slot: int) -> str:
    tag = hmac.new(secret, slot.to_bytes(8, "big", signed=True), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(slot.to_bytes(8, "big", signed=True) + tag).rstrip(b"=").decode()


def _slot(now: datetime) -> int:
    return int(now.timestamp()) // NONCE_SLOT_SECONDS


def make_nonce(secret: bytes, now: datetime) -> str:
    """The nonce to hand out now (the same one on every server for the whole slot)."""
    return _nonce_for_slot(secret, _slot(now))


def nonce_is_fresh(secret: bytes, value, now: datetime) -> bool:
    """Whether ``value`` is the nonce of this slot or of the one before."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    current = _slot(now)
    return any(hmac.compare_digest(value, _nonce_for_slot(secret, slot)) for slot in (current, current - 1))


def check(value: str | None, *, method: str, url: str, now: datetime, access_token: str | None = None,
          jkt: str | None = None, nonce_secret: bytes | None = None) -> Proof:
    """Validate a proof for one request; raise :class:`InvalidProof` saying what is wrong.

    ``access_token`` (resource requests) requires a matching ``ath``; ``jkt`` (the binding of
    the token presented) requires the proof to be signed by that very key; ``nonce_secret``
    (nonces required) a fresh server nonce, checked last, so a client is asked for one only
    when everything else about its proof is right. The ``jti`` is only checked for form here:
    :func:`remember` decides whether it was seen before.
    """
    _header, claims, key = _parse(value)
    if claims.get("htm") != method:
        raise InvalidProof("The proof's 'htm' is not this request's method.")
    htu = claims.get("htu")
    try:
        same_url = isinstance(htu, str) and normalize_url(htu) == normalize_url(url)
    except ValueError:  # an unparsable URL or port
        same_url = False
    if not same_url:
        raise InvalidProof("The proof's 'htu' is not this request's URL.")
    issued = _issued_at(claims, now)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidProof("The proof needs a unique 'jti'.")
    if access_token is not None and claims.get("ath") != b64_sha256(access_token):
        raise InvalidProof("The proof's 'ath' is not the hash of the access token presented.")
    thumbprint = key.thumbprint()
    if jkt is not None and thumbprint != jkt:
        raise InvalidProof("The proof is not signed with the key this token is bound to.")
    if nonce_secret is not None and not nonce_is_fresh(nonce_secret, claims.get("nonce"), now):
        raise NonceNeeded("Sign the proof again with the server nonce from the DPoP-Nonce header as 'nonce'.")
    return Proof(thumbprint, jti, issued)


def remember(db: Session, proof: Proof, *, now: datetime) -> bool:
    """Record the proof's ``jti``; False if it was recorded before (a replay).

    One ``INSERT ... ON CONFLICT DO NOTHING``: of two racing uses of the same proof (in any
    process) exactly one inserts. Rows whose proofs can no longer pass the ``iat`` check are
    deleted on the way, so the table holds about two minutes of proofs.
    """
    db.execute(delete(DPoPProofSeen).where(DPoPProofSeen.expires_at < now)
               .execution_options(synchronize_session=False))
    digest = hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = db.execute(insert(DPoPProofSeen).values(jti_hash=digest, expires_at=proof.iat + IAT_WINDOW)
                          .on_conflict_do_nothing(index_elements=["jti_hash"])
                          .returning(DPoPProofSeen.jti_hash)).first()
    return inserted is not None


def nonce_secret() -> bytes | None:
    """The nonce key of this app when nonces are required (``VAULT_DPOP_NONCE``), else None."""
    return derived_secret(derive_nonce_secret) if instance().settings.dpop_nonce else None


def add_nonce(response):
    """After a request that came with a proof: the current nonce, so the client's next proof can
    carry it without a refused round trip (RFC 9449 §8.2, §9)."""
    if "DPoP" in request.headers and (secret := nonce_secret()) is not None:
        response.headers["DPoP-Nonce"] = make_nonce(secret, clock.utcnow())
    return response


def verify_request(url: str, *, access_token: str | None = None, jkt: str | None = None) -> Proof:
    """The DPoP proof of the current request, checked against ``url`` and spent."""
    values = request.headers.getlist("DPoP")
    if len(values) != 1:
        raise InvalidProof("Send exactly one DPoP header.")
    now = clock.utcnow()
    proof = check(values[0], method=request.method, url=url, now=now, access_token=access_token, jkt=jkt,
                  nonce_secret=nonce_secret())
    if not remember(get_db(), proof, now=now):
        raise InvalidProof("This proof was used before: sign a new one (new 'jti') for every request.")
    return proof
