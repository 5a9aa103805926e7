"""Signed outbound webhooks: endpoints and secrets, the delivery worker, the console's services.

Events are written by :mod:`consent.events` in the transaction of the change, with one pending
delivery per event when the app has an endpoint. The worker (``flask --app wsgi vault worker``,
:func:`run_worker`) sends them:

* **Claiming.** One atomic ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`` moves a
  batch of due rows' ``claimed_until`` lease into the future and returns them, then commits. On
  PostgreSQL concurrent workers skip each other's locked rows; on SQLite the statement holds the
  single writer lock. Either way a row is claimed by one worker at a time, and a crashed worker's
  claim runs out after :data:`LEASE`. Results are written only while the lease is still the one
  the worker took, so a worker that overran its lease cannot overwrite another's outcome.
* **Sending** happens outside any transaction, with short timeouts, no redirects, no proxies from
  the environment, to ``https`` URLs (``http`` only on loopback).
* **Retrying.** A non-2xx answer or a network error schedules the next attempt after an
  exponentially growing delay with jitter (each delay is 75-100 % of double the previous, so
  delays always grow); once the next attempt would be more than :data:`RETRY_FOR` after the event,
  the delivery is marked failed.

Signature: ``VRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, with
``VRM-Event-Id`` and ``VRM-Event-Type`` (see docs/webhooks.md for a verification snippet).
The secret has to be usable for HMAC, so it is sealed (AES-256-GCM under the active
key-encryption key, bound to the app's client id), never stored as plain text or a hash.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from consent import events, feed
from consent import grants as consent_grants
from consent.context import ConsentContext
from consent.models import VendorApp
from consent.outbox import AppEvent, WebhookDelivery, WebhookEndpoint
from vault import crypto
from vault.clock import as_utc, utcnow
from vault.errors import VaultError
from vault.keys.service import KeyService

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "VRM-Signature"
TIMEOUT = (3.05, 10)  # (connect, read) seconds
LEASE = timedelta(minutes=5)  # > BATCH x the longest send
BATCH = 10
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=2)
RETRY_FOR = timedelta(hours=24)
URL_MAX = 500
_delivery = WebhookDelivery.__table__


class WebhookError(VaultError):
    """A webhook setting or console action that cannot be done (message fit for the vendor)."""


class DeliveryNotFound(WebhookError):
    """No such delivery for this app."""


# --- endpoint and secret --------------------------------------------------------------------

def _ip(host: str):
    """The IP address ``host`` is written as, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    address = _ip(host)
    return host == "localhost" or (address is not None and address.is_loopback)


#: One DNS label in its ASCII (IDNA) form: 1-63 letters, digits and inner hyphens.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
#: A last label like these makes the host an IPv4 address in some legacy notation ("127.1",
#: "2130706433", "0x7f.0.0.1", "0177.0.0.1"), which resolvers accept (WHATWG URL: "ends in a number").
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def _host_problem(host: str) -> str | None:
    """Why ``host`` (lower case, as urlsplit gives it) is neither an IP literal nor a DNS name."""
    if _ip(host) is not None:
        return None
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty label, one over 63 characters, or characters IDNA refuses
        return "The webhook URL's host name is not valid."
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "The webhook URL's host name is not valid."
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return "Write the webhook URL's IP address in its usual dotted form, or use a host name."
    return None


def check_url(url: str) -> str:
    """A webhook URL we are willing to call: http(s), https unless loopback, no credentials.

    IP literals in private, link-local or reserved ranges are refused (the vault must not be
    made to knock on its own network's doors); loopback is allowed for local development. The
    host must be an IP literal in its usual form or a valid DNS name: legacy IPv4 notations
    ("167772161" is 10.0.0.1) would slip past the range check, and a malformed name made the
    HTTP library raise an error the worker did not expect (``_send``).
    """
    url = (url or "").strip()
    if not url or len(url) > URL_MAX:
        raise WebhookError(f"Give a URL of at most {URL_MAX} characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise WebhookError("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookError("The webhook URL must start with https://.")
    if parts.username or parts.password:
        raise WebhookError("The webhook URL must not contain a user name or password.")
    if parts.fragment:
        raise WebhookError("The webhook URL must not contain a fragment (#...).")
    if parts.port == 0 or ("[" in parts.netloc and not isinstance(_ip(host), ipaddress.IPv6Address)):
        raise WebhookError("This is not a valid URL.")  # port 0, or brackets around no IPv6 address
    problem = _host_problem(host)
    if problem:
        raise WebhookError(problem)
    loopback = _is_loopback(host)
    if parts.scheme == "http" and not loopback:
        raise WebhookError("The webhook URL must use https (plain http only on 127.0.0.1, [::1] or localhost).")
    if not loopback:
        address = _ip(host)
        if address is not None and not address.is_global:
            raise WebhookError("The webhook URL must not point into a private network.")
    return url


def _secret_ref(app: VendorApp) -> str:
    return f"webhook:{app.client_id}"


def _seal_secret(keys: KeyService, app: VendorApp, secret: str) -> tuple[str, bytes]:
    kek_id, kek = keys.provider.active_kek()
    return kek_id, crypto.wrap_dek(kek, kek_id, _secret_ref(app), secret.encode())


def open_secret(keys: KeyService, app: VendorApp, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret, unsealed (only the worker needs it)."""
    return keys.unwrap(_secret_ref(app), endpoint.kek_id, endpoint.secret_sealed).decode()


def set_webhook_url(db: Session, keys: KeyService, app: VendorApp, url: str, *,
                    now: datetime | None = None) -> str | None:
    """Set (or change) where the app's events go. Returns the new signing secret when the
    endpoint is created (show it once: it cannot be shown again), else None (secret unchanged)."""
    now = now or utcnow()
    url = check_url(url)
    endpoint = db.get(WebhookEndpoint, app.id)
    if endpoint is not None:
        endpoint.url, endpoint.updated_at = url, now
        db.flush()
        return None
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    kek_id, sealed = _seal_secret(keys, app, secret)
    db.add(WebhookEndpoint(app_id=app.id, url=url, kek_id=kek_id, secret_sealed=sealed,
                           created_at=now, updated_at=now))
    db.flush()
    return secret


def rotate_webhook_secret(db: Session, keys: KeyService, app: VendorApp, *, now: datetime | None = None) -> str:
    """A new signing secret, effective for every send from now on; returned once."""
    endpoint = db.get(WebhookEndpoint, app.id)
    if endpoint is None:
        raise WebhookError("Set a webhook URL first.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint.kek_id, endpoint.secret_sealed = _seal_secret(keys, app, secret)
    endpoint.updated_at = now or utcnow()
    db.flush()
    return secret


def remove_webhook(db: Session, app: VendorApp) -> None:
    """Stop sending: pending deliveries fail at their next attempt; the feed goes on."""
    endpoint = db.get(WebhookEndpoint, app.id)
    if endpoint is not None:
        db.delete(endpoint)
        db.flush()


@dataclass(frozen=True)
class EndpointInfo:
    url: str
    created_at: datetime
    updated_at: datetime


def webhook_endpoint(db: Session, app_id: int) -> EndpointInfo | None:
    """The app's endpoint as the console shows it (never the secret)."""
    endpoint = db.get(WebhookEndpoint, app_id)
    if endpoint is None:
        return None
    return EndpointInfo(endpoint.url, as_utc(endpoint.created_at), as_utc(endpoint.updated_at))


# --- payload and signature -----------------------------------------------------------------

def event_document(event: AppEvent, client_id: str) -> dict:
    """What a vendor receives for one event, by webhook or from the change feed."""
    return {"id": event.public_id, "type": event.type, "created_at": as_utc(event.created_at).isoformat(),
            "app": client_id, "sub": event.subject, "data": event.data}


def event_body(event: AppEvent, client_id: str) -> bytes:
    return json.dumps(event_document(event, client_id), sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``VRM-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --- backoff --------------------------------------------------------------------------------

def next_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling from 30 s up to 2 h, times 0.75-1.0."""
    rng = rng or random.SystemRandom()
    base = min(FIRST_DELAY * (2 ** (attempts - 1)), MAX_DELAY)
    return base * rng.uniform(0.75, 1.0)


# --- the worker -----------------------------------------------------------------------------

def claim_due(db: Session, *, now: datetime, batch: int = BATCH) -> list[tuple[int, datetime]]:
    """Claim up to ``batch`` due deliveries for this worker and commit; returns (id, lease)."""
    lease = now + LEASE
    due = (select(_delivery.c.id)
           .where(_delivery.c.state == "pending", _delivery.c.next_attempt_at <= now,
                  or_(_delivery.c.claimed_until.is_(None), _delivery.c.claimed_until < now))
           .order_by(_delivery.c.next_attempt_at, _delivery.c.id).limit(batch)
           .with_for_update(skip_locked=True))
    stmt = (update(_delivery)
            .where(_delivery.c.id.in_(due.scalar_subquery()), _delivery.c.state == "pending",
                   or_(_delivery.c.claimed_until.is_(None), _delivery.c.claimed_until < now))
            .values(claimed_until=lease).returning(_delivery.c.id))
    ids = sorted(db.execute(stmt).scalars().all())
    db.commit()
    return [(i, lease) for i in ids]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _resolves_into_private_network(url: str) -> bool:
    """Whether the URL's host *name* resolves to an address ``check_url`` would refuse as a literal.

    ``check_url`` judges what is written; a name is judged here, when it is about to be called
    (its DNS may have changed since it was saved). ``localhost`` stays allowed, as in
    ``check_url``. A name that does not resolve is left to the request, which fails and says so.
    What remains open is a name whose DNS changes between this look-up and the connection.
    """
    host = urlsplit(url).hostname or ""
    if _ip(host) is not None or _is_loopback(host):
        return False
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return any(not ipaddress.ip_address(str(sockaddr[0]).split("%")[0]).is_global for *_, sockaddr in found)


def _send(http: requests.Session, url: str, secret: str, event_id: str, event_type: str, body: bytes,
          now: datetime) -> Outcome:
    if _resolves_into_private_network(url):
        return Outcome(None, "The webhook URL's host name points into a private network.")
    headers = {"Content-Type": "application/json", "User-Agent": "VRM-Vault-Webhooks/1",
               SIGNATURE_HEADER: sign(secret, int(now.timestamp()), body),
               "VRM-Event-Id": event_id, "VRM-Event-Type": event_type}
    try:
        response = http.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
        response.close()
    except (requests.RequestException, ValueError) as exc:  # urllib3 raises some URL errors bare
        return Outcome(None, f"{type(exc).__name__}: could not reach the endpoint"[:200])
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Outcome(response.status_code, error)


def _attempt(db: Session, keys: KeyService, http: requests.Session, delivery_id: int, now: datetime) -> Outcome:
    delivery = db.get(WebhookDelivery, delivery_id)
    event = db.get(AppEvent, delivery.event_id)
    app = db.get(VendorApp, delivery.app_id)
    endpoint = db.get(WebhookEndpoint, delivery.app_id)
    try:
        if endpoint is None or not app.is_active:
            return Outcome(None, "No webhook endpoint is set for this app.")
        try:
            url = check_url(endpoint.url)
        except WebhookError as exc:
            return Outcome(None, str(exc)[:200])
        secret, body = open_secret(keys, app, endpoint), event_body(event, app.client_id)
        event_id, event_type = event.public_id, event.type
    finally:
        db.rollback()  # hold no transaction (and on SQLite no lock) while waiting on the network
    return _send(http, url, secret, event_id, event_type, body, now)


def _record(db: Session, delivery_id: int, lease: datetime, outcome: Outcome, now: datetime) -> bool:
    delivery = db.get(WebhookDelivery, delivery_id)
    attempts = delivery.attempts + 1
    values = dict(attempts=attempts, last_attempt_at=now, last_status_code=outcome.status_code,
                  last_error=outcome.error, claimed_until=None)
    if outcome.ok:
        values.update(state="delivered", delivered_at=now)
    else:
        retry_at = now + next_delay(attempts)
        if retry_at > as_utc(delivery.created_at) + RETRY_FOR:
            values.update(state="failed")
        else:
            values.update(next_attempt_at=retry_at)
    mine = and_(_delivery.c.id == delivery_id, _delivery.c.claimed_until == lease, _delivery.c.state == "pending")
    result = db.execute(update(_delivery).where(mine).values(**values).execution_options(synchronize_session=False))
    db.commit()
    if result.rowcount != 1:
        log.warning("Webhook delivery %s: lease lost before its result was recorded.", delivery_id)
        return False
    return True


def deliver_due(sessions: sessionmaker, keys: KeyService, *, now: Callable[[], datetime] = utcnow,
                http: requests.Session | None = None, batch: int = BATCH) -> int:
    """Claim and send due deliveries until none is due; returns how many attempts were made."""
    own_http = http is None
    if own_http:
        http = requests.Session()
        http.trust_env = False  # no proxies or .netrc from the environment
    attempted = 0
    db = sessions()
    try:
        while True:
            claimed = claim_due(db, now=now(), batch=batch)
            if not claimed:
                return attempted
            for delivery_id, lease in claimed:
                moment = now()
                outcome = _attempt(db, keys, http, delivery_id, moment)
                _record(db, delivery_id, lease, outcome, moment)
                attempted += 1
    finally:
        db.close()
        if own_http:
            http.close()


def run_once(sessions: sessionmaker, keys: KeyService, ctx: ConsentContext, *,
             now: Callable[[], datetime] = utcnow, http: requests.Session | None = None) -> dict:
    """One round of the worker: expire due grants, end retired apps' grants, seal the feed, send
    due deliveries."""
    db = sessions()
    try:
        expired = len(consent_grants.expire_due(db, ctx, now=now()))
        db.commit()
        ended = len(consent_grants.end_for_retired_apps(db, ctx, now=now()))
        db.commit()
        sealed = feed.seal_all(db)
        db.commit()
    finally:
        db.close()
    sent = deliver_due(sessions, keys, now=now, http=http)
    return {"expired": expired, "ended": ended, "sealed": sealed, "attempted": sent}


def run_worker(sessions: sessionmaker, keys: KeyService, ctx: ConsentContext, *, interval: float = 5.0,
               once: bool = False, sleep: Callable[[float], None] = time.sleep,
               also: tuple[Callable[[], dict], ...] = ()) -> None:
    """Run rounds forever (or once), ``interval`` seconds apart. Safe beside other workers.

    ``also``: further jobs run in each round (e.g. notifications), each returning its counts."""
    while True:
        try:
            summary = run_once(sessions, keys, ctx)
            for job in also:
                summary.update(job())
            if any(summary.values()):
                log.info("Worker round: %(expired)d grants expired, %(ended)d ended by retired apps, "
                         "%(sealed)d events sealed, "
                         "%(attempted)d deliveries attempted.", summary)
        except Exception:  # a bad round must not stop the worker; the next one retries
            if once:
                raise
            log.exception("Worker round failed; retrying in %s s.", interval)
        if once:
            return
        sleep(interval)


# --- the console's services ----------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryView:
    """One delivery as the vendor console lists it."""

    id: int
    event_id: str
    event_type: str
    state: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def list_deliveries(db: Session, app_id: int, *, limit: int = 50, before_id: int | None = None) -> list[DeliveryView]:
    """The app's deliveries, newest first (``before_id`` pages further back)."""
    query = (select(WebhookDelivery, AppEvent).join(AppEvent, AppEvent.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.app_id == app_id))
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    rows = db.execute(query.order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 200)))).all()
    return [DeliveryView(d.id, e.public_id, e.type, d.state, d.attempts, d.last_status_code, d.last_error,
                         as_utc(d.created_at), as_utc(d.last_attempt_at),
                         as_utc(d.next_attempt_at) if d.state == "pending" else None, as_utc(d.delivered_at))
            for d, e in rows]


def _require_endpoint(db: Session, app_id: int) -> None:
    if db.get(WebhookEndpoint, app_id) is None:
        raise WebhookError("Set a webhook URL first.")


def resend(db: Session, app_id: int, delivery_id: int, *, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery (the old one keeps its history)."""
    now = now or utcnow()
    old = db.get(WebhookDelivery, delivery_id)
    if old is None or old.app_id != app_id:
        raise DeliveryNotFound("No such delivery for this app.")
    _require_endpoint(db, app_id)
    again = WebhookDelivery(event_id=old.event_id, app_id=app_id, state="pending", attempts=0,
                            created_at=now, next_attempt_at=now)
    db.add(again)
    db.flush()
    return again


def send_test_event(db: Session, app_id: int, *, now: datetime | None = None) -> AppEvent:
    """A ``webhook.test`` event, queued for the app's endpoint like any other."""
    _require_endpoint(db, app_id)
    return events.emit_test(db, app_id, now=now)
