"""The notification outbox: claim due messages, honour quiet hours, send, mark sent — once.

This is a worker job, so unlike the rest of the package it owns its transactions:

1. **Claim** (one short transaction): due ``pending`` rows — and ``sending`` rows whose lease ran
   out because a worker died — become ``sending`` under a fresh claim token. The UPDATE repeats
   the "still claimable" condition, so of two workers racing for a row exactly one wins (on
   PostgreSQL ``FOR UPDATE SKIP LOCKED`` also keeps them from waiting on each other; on SQLite
   the writer lock serialises the UPDATEs).
2. **Send**, outside any transaction (no lock is held while talking to a mail server).
3. **Complete** (one transaction per row): ``sent``, or back to ``pending`` with a later
   ``due_at`` (backoff after a transient failure, or the end of the quiet window), or
   ``failed``/``skipped``. Only the holder of the claim can complete it.

A worker killed between 2 and 3 leaves a row that is sent again once its lease ends: delivery is
at least once, and the Message-ID (and the SMS reference) is stable per notification and
channel, so that rare duplicate is identifiable as one. Nothing logged holds an address or a text.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from vault.clock import utcnow
from vault.errors import VaultError
from vault.instance import Instance
from vault.keys.service import KeyService
from vault.mail import Mailer, MailError, mailer_for
from vault.models import Account
from vault.records import read_fields
from vault.sms import SmsError, SmsGateway, gateway_for

from .catalogue import FOOTER, SETTINGS_PATH, render
from .models import Delivery
from .quiet import quiet_until

log = logging.getLogger("consent.notifications")

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after the 1st, 2nd, 3rd failure, at most six hours."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


@dataclass(frozen=True)
class Transports:
    """What sending needs: the channels, the keys to read quiet hours and the phone number from
    the customer's vault at send time (no copy of them is kept elsewhere), and the site's URL."""

    mail: Mailer
    sms: SmsGateway
    keys: KeyService
    mail_from: str
    base_url: str = "http://localhost:5000"

    @classmethod
    def for_instance(cls, inst: Instance) -> "Transports":
        s = inst.settings
        return cls(mailer_for(s), gateway_for(s), inst.keys, s.mail_from,
                   (s.base_url or "http://localhost:5000").rstrip("/"))


@dataclass
class Outcome:
    sent: int = 0
    deferred: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    ids: list[str] = field(default_factory=list)


def _claimable(now: datetime):
    return or_(and_(Delivery.state == "pending", Delivery.due_at <= now),
               and_(Delivery.state == "sending", Delivery.lease_until < now))


def claim_due(db: Session, now: datetime, *, limit: int = 50) -> tuple[str, list[int]]:
    """Claim up to ``limit`` due rows for this caller and commit; returns the claim and the row ids won."""
    claim = secrets.token_hex(16)
    ids = db.scalars(select(Delivery.id).where(_claimable(now)).order_by(Delivery.due_at, Delivery.id)
                     .limit(limit).with_for_update(skip_locked=True)).all()
    if ids:
        db.execute(update(Delivery).where(Delivery.id.in_(ids), _claimable(now))
                   .values(state="sending", claim=claim, lease_until=now + LEASE, attempts=Delivery.attempts + 1)
                   .execution_options(synchronize_session=False))
    db.commit()
    won = db.scalars(select(Delivery.id).where(Delivery.claim == claim).order_by(Delivery.id)).all() if ids else []
    db.rollback()
    return claim, list(won)


def _complete(db: Session, delivery_id: int, claim: str, **values) -> bool:
    result = db.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.claim == claim,
                                               Delivery.state == "sending")
                        .values(claim=None, lease_until=None, **values)
                        .execution_options(synchronize_session=False))
    db.commit()
    return result.rowcount == 1


def primary_phone(values: dict) -> str | None:
    """The first mobile number in the vault, else the first number of any kind."""
    phones = values.get("phones") or []
    for phone in phones:
        if phone.get("label", "mobile") == "mobile":
            return phone["number"]
    return phones[0]["number"] if phones else None


@dataclass(frozen=True)
class _Job:
    """Everything needed to send one message, read before the transaction ends."""

    channel: str
    message_id: str
    address: str | None
    lang: str
    event: str
    params: dict
    quiet_until: datetime | None
    attempts: int


def _prepare(db: Session, transports: Transports, delivery: Delivery, now: datetime) -> _Job:
    notification = delivery.notification
    values: dict = {}
    address = notification.email_to
    if notification.account_id is not None:
        account = db.get(Account, notification.account_id)
        try:
            values = read_fields(db, transports.keys, account.id, {"quiet_hours", "phones"})
        except VaultError:
            values = {}  # erased or unreadable: no quiet hours, no phone (an SMS is then skipped)
        address = account.email if delivery.channel == "email" else primary_phone(values)
    domain = parseaddr(transports.mail_from)[1].rpartition("@")[2] or "vrm-vault.localhost"
    message_id = (f"<{notification.public_id}.email@{domain}>" if delivery.channel == "email"
                  else f"{notification.public_id}.sms")
    return _Job(delivery.channel, message_id, address, notification.locale, notification.event,
                notification.params, quiet_until(now, values.get("quiet_hours")), delivery.attempts)


def build_email(transports: Transports, job: _Job, now: datetime) -> EmailMessage:
    text = render(job.event, job.params, job.lang)
    lines = [text.body]
    if text.link:
        lines += ["", transports.base_url + text.link]
    lines += ["", "--", FOOTER[job.lang].format(url=transports.base_url + SETTINGS_PATH)]
    message = EmailMessage()
    message["Subject"] = text.subject
    message["From"] = transports.mail_from
    message["To"] = job.address
    message["Date"] = format_datetime(now)
    message["Message-ID"] = job.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines))
    message["Content-Language"] = job.lang  # after set_content, which resets Content-* headers
    return message


def _send(transports: Transports, job: _Job, now: datetime) -> None:
    if job.channel == "email":
        transports.mail.send(build_email(transports, job, now))
    else:
        text = render(job.event, job.params, job.lang)
        transports.sms.send(job.address, f"{text.subject} {transports.base_url}{text.link or ''}".strip(),
                            message_id=job.message_id)


def _deliver_one(db: Session, transports: Transports, delivery_id: int, claim: str, now: datetime,
                 outcome: Outcome) -> None:
    delivery = db.get(Delivery, delivery_id, populate_existing=True)
    job = _prepare(db, transports, delivery, now)
    db.rollback()  # end the read: nothing is held open while a server is talked to
    if job.quiet_until is not None:
        # Not an attempt: give it back for the end of the window.
        _complete(db, delivery_id, claim, state="pending", due_at=job.quiet_until, attempts=job.attempts - 1)
        outcome.deferred += 1
        return
    if not job.address:
        _complete(db, delivery_id, claim, state="skipped", last_error="no address")
        outcome.skipped += 1
        return
    try:
        _send(transports, job, now)
    except (MailError, SmsError) as exc:
        if exc.transient and job.attempts < MAX_ATTEMPTS:
            _complete(db, delivery_id, claim, state="pending", due_at=now + backoff(job.attempts),
                      last_error=exc.reason[:200])
            outcome.retrying += 1
        else:
            _complete(db, delivery_id, claim, state="failed", last_error=exc.reason[:200])
            outcome.failed += 1
        log.warning("Notification %s by %s not sent (attempt %d): %s", job.message_id, job.channel,
                    job.attempts, exc.reason)
        return
    if _complete(db, delivery_id, claim, state="sent", sent_at=now, last_error=None):
        outcome.sent += 1
        outcome.ids.append(job.message_id)
        log.info("Notification %s sent by %s.", job.message_id, job.channel)


def deliver_due(db: Session, transports: Transports, now: datetime | None = None, *,
                limit: int = 50) -> Outcome:
    """Send what is due, in batches of ``limit``, until nothing due is left. Commits (see above)."""
    now = now or utcnow()
    outcome = Outcome()
    while True:
        claim, ids = claim_due(db, now, limit=limit)
        for delivery_id in ids:
            _deliver_one(db, transports, delivery_id, claim, now, outcome)
        if len(ids) < limit:
            return outcome
