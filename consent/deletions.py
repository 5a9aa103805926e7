"""Vendors' confirmations that they deleted a customer's data, and the ones still missing.

After ``consent.revoked``, ``consent.expired`` or ``account.erased`` the app is expected to delete
what it holds and say so (``POST /api/v1/deletion-confirmations``). A confirmation names the
customer by the app's pairwise subject and optionally the event or grant it answers; it covers
every deletion event for that customer at that app up to the moment it is recorded. Each one is
written to the customer's ledger chain, so the proof stays when the account is gone.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, and_, exists, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime
from vault.models import Account

from . import ledger, notifications
from .errors import ConsentError
from .events import DELETION_EVENTS
from .models import Grant, VendorApp
from .outbox import AppEvent

#: How long a vendor has to confirm before privacy officers see the confirmation as overdue.
CONFIRMATION_DAYS = 30
#: A vendor's clock may run a little ahead of ours; a deletion further in the future is refused.
CLOCK_SKEW = timedelta(minutes=5)
NOTE_MAX = 500


class DeletionNotFound(ConsentError):
    """The subject, event or grant is not one of this app's (another app's counts as unknown)."""


class NothingToConfirm(ConsentError):
    """The customer's consent to this app never ended: there is no deletion to confirm."""


class InvalidConfirmation(ConsentError):
    """The confirmation itself is malformed (a deletion time in the future, a note too long)."""


class DeletionConfirmation(Base):
    __tablename__ = "deletion_confirmations"
    __table_args__ = (Index("ix_deletion_confirmations_app_subject", "app_id", "subject", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True,
                                           default=lambda: "dc_" + secrets.token_urlsafe(12))
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(64))
    #: The deletion event this answers (the newest one when the vendor did not say).
    event_id: Mapped[int | None] = mapped_column(ForeignKey("app_events.id", ondelete="SET NULL"), nullable=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(NOTE_MAX), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _deletion_events(db: Session, app_id: int, subject: str) -> list[AppEvent]:
    return list(db.scalars(select(AppEvent).where(AppEvent.app_id == app_id, AppEvent.subject == subject,
                                                  AppEvent.type.in_(DELETION_EVENTS))
                           .order_by(AppEvent.id)))


def confirm(db: Session, app: VendorApp, *, subject: str, deleted_at: datetime, event_id: str | None = None,
            grant_ref: str | None = None, note: str | None = None,
            now: datetime | None = None) -> DeletionConfirmation:
    """Record that ``app`` deleted what it held about ``subject``, and write it to the ledger.

    ``subject`` must be one of this app's customers (else :class:`DeletionNotFound`, as for another
    app's subject), and their consent must have ended (else :class:`NothingToConfirm`).
    ``event_id`` / ``grant_ref``, when given, must belong to the same app and subject.
    """
    now = now or utcnow()
    deleted_at = as_utc(deleted_at)
    if deleted_at > now + CLOCK_SKEW:
        raise InvalidConfirmation("deleted_at is in the future.")
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidConfirmation(f"The note is longer than {NOTE_MAX} characters.")
    candidates = _deletion_events(db, app.id, subject)
    grant = db.scalar(select(Grant).where(Grant.app_id == app.id, Grant.subject == subject))
    if grant is None and not candidates and not db.scalar(
            select(exists().where(AppEvent.app_id == app.id, AppEvent.subject == subject))):
        raise DeletionNotFound("No such customer at this app.")
    if grant_ref is not None and not (
            (grant is not None and grant.public_id == grant_ref)
            or any(e.data.get("grant") == grant_ref for e in candidates)):
        raise DeletionNotFound("No such grant for this customer at this app.")
    if event_id is not None:
        chosen = [e for e in candidates if e.public_id == event_id]
        if not chosen:
            raise DeletionNotFound("No such deletion event for this customer at this app.")
        event = chosen[0]
    elif candidates:
        event = candidates[-1]
    else:
        raise NothingToConfirm("This customer's consent has not ended: there is nothing to confirm.")
    row = DeletionConfirmation(app_id=app.id, subject=subject, event_id=event.id, deleted_at=deleted_at,
                               note=note or None, created_at=now)
    db.add(row)
    db.flush()
    if event.chain is not None:
        ledger.append(db, type="deletion_confirmed", actor=app.client_id, actor_role="vendor", chain=event.chain,
                      vendor_app=app.client_id, now=now,
                      details={"event": event.public_id, "event_type": event.type, "confirmation": row.public_id,
                               "deleted_at": deleted_at.isoformat()})
        customer = db.scalar(select(Account).where(Account.public_id == event.chain))
        if customer is not None:  # an erased customer has no account (nor address) left to tell
            notifications.notify(db, account=customer, event="deletion_confirmed", now=now,
                                 once_key=f"deletion_confirmed:{row.public_id}",
                                 params={"vendor": app.name, "date": deleted_at.date().isoformat()})
    return row


def grant_ended_at(grant: Grant, now: datetime | None = None) -> datetime | None:
    """When the grant stopped (revoked, or reached its expiry); None while it is live."""
    if grant.status == "revoked":
        return as_utc(grant.revoked_at)
    if grant.status == "expired" or (grant.expires_at is not None
                                     and as_utc(grant.expires_at) <= (now or utcnow())):
        return as_utc(grant.expires_at)
    return None


def confirmation_for_grant(db: Session, grant: Grant, now: datetime | None = None) -> DeletionConfirmation | None:
    """The vendor's newest deletion confirmation since this grant ended, if any.

    None for a live grant, and None for one that ended without a confirmation recorded after it.
    """
    ended = grant_ended_at(grant, now)
    if ended is None:
        return None
    return db.scalar(select(DeletionConfirmation)
                     .where(DeletionConfirmation.app_id == grant.app_id,
                            DeletionConfirmation.subject == grant.subject,
                            DeletionConfirmation.created_at >= ended)
                     .order_by(DeletionConfirmation.created_at.desc()).limit(1))


@dataclass(frozen=True)
class OverdueDeletion:
    """A deletion the vendor has not confirmed within :data:`CONFIRMATION_DAYS` (names and
    pseudonymous ids only, fit for a privacy officer)."""

    event_id: str
    event_type: str
    happened_at: datetime
    customer: str | None
    client_id: str
    app_name: str
    vendor_name: str
    days_waiting: int


def overdue_deletion_confirmations(db: Session, now: datetime | None = None, *,
                                   days: int = CONFIRMATION_DAYS, limit: int = 500) -> list[OverdueDeletion]:
    """Deletion events older than ``days`` with no confirmation from the app recorded since.

    A customer who granted the app again after the event is no longer waiting for a deletion.
    Oldest first. ``customer`` is the pseudonymous account id (the ledger chain).
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    confirmed = exists().where(DeletionConfirmation.app_id == AppEvent.app_id,
                               DeletionConfirmation.subject == AppEvent.subject,
                               DeletionConfirmation.created_at >= AppEvent.created_at)
    granted_again = exists().where(and_(Grant.app_id == AppEvent.app_id, Grant.subject == AppEvent.subject,
                                        Grant.status == "active", Grant.granted_at > AppEvent.created_at))
    rows = db.execute(select(AppEvent, VendorApp)
                      .join(VendorApp, VendorApp.id == AppEvent.app_id)
                      .where(AppEvent.type.in_(DELETION_EVENTS), AppEvent.created_at <= cutoff,
                             ~confirmed, ~granted_again)
                      .order_by(AppEvent.created_at, AppEvent.id).limit(limit)).all()
    return [OverdueDeletion(event_id=e.public_id, event_type=e.type, happened_at=as_utc(e.created_at),
                            customer=e.chain, client_id=a.client_id, app_name=a.name, vendor_name=a.org.name,
                            days_waiting=(now - as_utc(e.created_at)).days)
            for e, a in rows]
