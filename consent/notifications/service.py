"""Deciding who is told what, on which channels: notify, the customer's choices, the portal centre.

Everything here adds and flushes in the caller's transaction and never commits, so a
notification exists exactly when the change it tells about was committed (the outbox
pattern): a rolled-back revoke sends no "revoked" mail. Sending is :mod:`.outbox`'s job.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.clock import utcnow
from vault.models import Account

from ..ledger import LedgerEntry
from ..models import Grant, VendorApp
from .catalogue import CUSTOMER_EVENTS, EVENTS, EXPIRY_NOTICE_DAYS, LANGUAGES, OPTIONAL_CHANNELS, UnknownEvent
from .models import Delivery, Notification, NotificationChoice

#: Grant changes (consent.grants event names) that the customer is told about.
GRANT_EVENTS = {"grant": "vendor_connected", "revoke": "grant_revoked", "expire": "grant_expired",
                "retire": "app_retired"}
PAGE = 50


# -- choices ---------------------------------------------------------------------------------

def choices(db: Session, account_id: int) -> dict[str, frozenset[str]]:
    """Every event type -> the channels this customer gets it on (``portal`` always included)."""
    chosen = {event: spec.default_channels for event, spec in CUSTOMER_EVENTS.items()}
    for row in db.scalars(select(NotificationChoice).where(NotificationChoice.account_id == account_id)):
        if row.event in chosen:
            chosen[row.event] = frozenset({"portal"} | {c for c in OPTIONAL_CHANNELS if getattr(row, c)})
    return chosen


def set_choices(db: Session, account_id: int, chosen: dict[str, set[str]], *,
                now: datetime | None = None) -> None:
    """Store the channels per event type; events not named keep what they had.

    Unknown events or channels raise :class:`ValueError` (the portal only offers known ones, so
    anything else is a forged form).
    """
    now = now or utcnow()
    unknown = set(chosen) - set(CUSTOMER_EVENTS)
    if unknown:
        raise UnknownEvent(f"unknown event types: {sorted(unknown)}")
    for event, channels in chosen.items():
        stray = set(channels) - set(OPTIONAL_CHANNELS) - {"portal"}
        if stray:
            raise ValueError(f"unknown channels: {sorted(stray)}")
        row = db.get(NotificationChoice, (account_id, event))
        if row is None:
            row = NotificationChoice(account_id=account_id, event=event)
            db.add(row)
        row.email, row.sms, row.updated_at = "email" in channels, "sms" in channels, now
    db.flush()


# -- notify ----------------------------------------------------------------------------------

def _check(event: str, params: dict) -> dict:
    spec = EVENTS.get(event)
    if spec is None:
        raise UnknownEvent(f"unknown event type {event!r}")
    missing = [p for p in spec.params if p not in params]
    if missing:
        raise ValueError(f"{event} needs params {missing}")
    return {p: params[p] for p in spec.params}


def _add_once(db: Session, notification: Notification) -> Notification | None:
    """Add it; one with an already used ``once_key`` is a no-op (checked, then inserted in a
    savepoint so that a concurrent scan losing the race on the unique key changes nothing)."""
    if notification.once_key is None:
        db.add(notification)
        db.flush()
        return notification
    if db.scalar(select(Notification.id).where(Notification.once_key == notification.once_key)) is not None:
        return None
    try:
        with db.begin_nested():
            db.add(notification)
    except IntegrityError:
        return None
    return notification


def notify(db: Session, *, account: Account, event: str, params: dict, now: datetime | None = None,
           once_key: str | None = None) -> Notification | None:
    """Tell ``account`` about ``event``: an item in their portal centre, plus one outbox row per
    channel they chose for this event type. Returns None when ``once_key`` was already used.

    ``params`` are the event's named values (see the catalogue), never vault values.
    """
    params = _check(event, params)
    now = now or utcnow()
    notification = Notification(account_id=account.id, event=event, params=params, created_at=now,
                                locale=account.locale if account.locale in LANGUAGES else "en",
                                once_key=once_key)
    if _add_once(db, notification) is None:
        return None
    chosen = choices(db, account.id)[event]
    for channel in OPTIONAL_CHANNELS:
        if channel in chosen:
            db.add(Delivery(notification_id=notification.id, channel=channel, due_at=now))
    db.flush()
    return notification


def notify_address(db: Session, *, email: str, event: str, params: dict, locale: str = "en",
                   now: datetime | None = None) -> Notification:
    """Mail someone who has no account (any more): the confirmation after erasure, a vendor's
    escalation contact. Email only, no portal item, no quiet hours (we hold none for them)."""
    params = _check(event, params)
    now = now or utcnow()
    notification = Notification(account_id=None, email_to=email, event=event, params=params, created_at=now,
                                locale=locale if locale in LANGUAGES else "en")
    db.add(notification)
    db.flush()
    db.add(Delivery(notification_id=notification.id, channel="email", due_at=now))
    db.flush()
    return notification


def on_grant_change(db: Session, customer: Account, grant: Grant, change: str, now: datetime) -> None:
    """Called by consent.grants for every recorded change; tells the customer about the ones that matter."""
    event = GRANT_EVENTS.get(change)
    if event is not None:
        notify(db, account=customer, event=event, params={"vendor": grant.app.name, "grant": grant.public_id},
               now=now)


def scan_expiring(db: Session, now: datetime | None = None, *, batch: int = 500) -> list[Notification]:
    """Tell each customer, once, about every live grant that expires within the next 7 days.

    Idempotent per grant *and* expiry: the once-key names both, so a second scan adds nothing,
    while a grant renewed and later expiring again is announced again.
    """
    now = now or utcnow()
    horizon = now + timedelta(days=EXPIRY_NOTICE_DAYS)
    made: list[Notification] = []
    after = (now, 0)
    while True:
        rows = db.scalars(
            select(Grant).where(Grant.status == "active", Grant.expires_at.is_not(None),
                                Grant.expires_at <= horizon,
                                (Grant.expires_at > after[0]) | ((Grant.expires_at == after[0]) & (Grant.id > after[1])))
            .order_by(Grant.expires_at, Grant.id).limit(batch)).all()
        for grant in rows:
            customer = db.get(Account, grant.account_id)
            key = f"grant_expiring:{grant.public_id}:{grant.expires_at.strftime('%Y%m%dT%H%M%S')}"
            done = notify(db, account=customer, event="grant_expiring", now=now, once_key=key,
                          params={"vendor": grant.app.name, "grant": grant.public_id,
                                  "date": grant.expires_at.date().isoformat()})
            if done is not None:
                made.append(done)
        if len(rows) < batch:
            return made
        after = (rows[-1].expires_at, rows[-1].id)


# -- the portal centre -----------------------------------------------------------------------

def list_for(db: Session, account_id: int, *, before_id: int | None = None, limit: int = PAGE) -> list[Notification]:
    query = select(Notification).where(Notification.account_id == account_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(db.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def unread_count(db: Session, account_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Notification)
                     .where(Notification.account_id == account_id, Notification.read_at.is_(None))) or 0


def mark_read(db: Session, account_id: int, public_id: str, *, now: datetime | None = None) -> bool:
    """Mark one of the customer's own items read; another customer's id simply matches nothing."""
    result = db.execute(update(Notification).where(Notification.account_id == account_id,
                                                   Notification.public_id == public_id,
                                                   Notification.read_at.is_(None))
                        .values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    exists = result.rowcount > 0 or db.scalar(select(Notification.id).where(
        Notification.account_id == account_id, Notification.public_id == public_id)) is not None
    return exists


def mark_all_read(db: Session, account_id: int, *, now: datetime | None = None) -> int:
    result = db.execute(update(Notification).where(Notification.account_id == account_id,
                                                   Notification.read_at.is_(None))
                        .values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


# -- vendors reading more than usual -----------------------------------------------------------

#: A vendor's reads of one customer in the last day must reach both of these to be worth telling.
JUMP_MIN_READS = 20
JUMP_RATIO = 3.0


def scan_read_jumps(db: Session, now: datetime | None = None, *, min_reads: int = JUMP_MIN_READS,
                    ratio: float = JUMP_RATIO) -> list[Notification]:
    """Tell a customer, once a day per connection, when a vendor read their vault at least
    ``ratio`` times its usual daily count (the daily average of the 28 days before) and at least
    ``min_reads`` times in the last 24 hours.

    Two grouped counts over the ledger's ``(type, created_at)`` index: the last day for every
    (customer, app), then the 28 days before only for the few that read enough to matter.
    """
    now = now or utcnow()
    day_ago, month_ago = now - timedelta(days=1), now - timedelta(days=29)
    busy = db.execute(select(LedgerEntry.chain, LedgerEntry.vendor_app, func.count())
                      .where(LedgerEntry.type == "read", LedgerEntry.vendor_app.is_not(None),
                             LedgerEntry.created_at >= day_ago, LedgerEntry.created_at < now)
                      .group_by(LedgerEntry.chain, LedgerEntry.vendor_app)
                      .having(func.count() >= min_reads)).all()
    made: list[Notification] = []
    for chain, client_id, recent in busy:
        before = db.scalar(select(func.count()).select_from(LedgerEntry)
                           .where(LedgerEntry.type == "read", LedgerEntry.chain == chain,
                                  LedgerEntry.vendor_app == client_id, LedgerEntry.created_at >= month_ago,
                                  LedgerEntry.created_at < day_ago))
        usual = before / 28
        if usual and recent < ratio * usual:
            continue
        row = db.execute(select(Account, Grant).join(Grant, Grant.account_id == Account.id)
                         .join(VendorApp, VendorApp.id == Grant.app_id)
                         .where(Account.public_id == chain, VendorApp.client_id == client_id)).first()
        if row is None:
            continue
        customer, grant = row
        done = notify(db, account=customer, event="read_volume_jump", now=now,
                      once_key=f"read_volume_jump:{grant.public_id}:{now.date().isoformat()}",
                      params={"vendor": grant.app.name, "grant": grant.public_id, "count": recent,
                              "usual": max(1, round(usual)) if usual else 0})
        if done is not None:
            made.append(done)
    return made
