"""May this vendor contact this customer on this channel now? And the log that keeps the weekly cap.

The customer's own rules decide, as kept in their vault under ``preferences.communication``:
the channels they accept (``channels``; none chosen means none accepted), their daily quiet hours
in their own time zone (``quiet_hours``, which may cross midnight), and how many times a week they
may be contacted (``max_contacts_per_week``). The answer is checked in that order and the first
rule that says no is the reason given:

``scope_missing``        the grant does not let this app see the customer's communication preferences
``channel_not_allowed``  the customer does not accept this channel
``quiet_hours``          it is inside the customer's quiet hours (``until`` says when they end)
``weekly_cap_reached``   this app already contacted the customer as often as allowed in the last
                         7 days (``until`` says when the oldest of those contacts drops out)

The cap is counted per app over a rolling 7 days, from the contacts the app itself reports
(``record_contact``): counting every vendor's contacts together would tell one vendor that
others had been in touch, which is none of its business (SECURITY.md 17).

Asking is a read of those preferences and reporting is a write: both are ledger entries naming
the fields, never the values. Services flush and never commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vault import records
from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime
from vault.errors import ValidationFailed
from vault.keys.service import KeyService
from vault.schemas import CHANNELS

from . import ledger
from .notifications.quiet import quiet_until
from .scopes import SCOPES
from .vendor_access import ScopeMissing, VendorAccess

SCOPE = "preferences.communication"
#: The vault fields the answer is made of.
COMMUNICATION_FIELDS = frozenset(SCOPES[SCOPE].fields)
RULE_FIELDS = ("channels", "quiet_hours", "max_contacts_per_week")
WEEK = timedelta(days=7)

REASONS = {
    "scope_missing": "The customer has not let your app see how they want to be contacted "
                     "(preferences.communication).",
    "channel_not_allowed": "The customer does not accept contact on this channel.",
    "quiet_hours": "It is inside the customer's quiet hours in their time zone.",
    "weekly_cap_reached": "Your app has reached the customer's limit of contacts for the last 7 days.",
}


class Contact(Base):
    """One contact an app reports having made (channel and time: no content, no address)."""

    __tablename__ = "vendor_contacts"
    __table_args__ = (Index("ix_vendor_contacts_window", "account_id", "app_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Answer:
    channel: str
    allowed: bool
    reason: str | None = None
    until: datetime | None = None

    @property
    def message(self) -> str | None:
        return REASONS.get(self.reason) if self.reason else None


def evaluate(prefs: dict, channel: str, now: datetime, recent: list[datetime]) -> Answer:
    """The customer's rules applied to one channel at ``now``, given this app's ``recent`` contacts
    (their times, any order; only those in the 7 days up to ``now`` count). Pure: no database."""
    now = as_utc(now)
    if channel not in (prefs.get("channels") or ()):
        return Answer(channel, False, "channel_not_allowed")
    ends = quiet_until(now, prefs.get("quiet_hours"))
    if ends is not None:
        return Answer(channel, False, "quiet_hours", ends)
    cap = prefs.get("max_contacts_per_week")
    if cap is not None:
        window = sorted(as_utc(t) for t in recent if now - WEEK < as_utc(t) <= now)
        if len(window) >= cap:
            # the contact whose dropping out brings the count below the cap
            until = window[len(window) - cap] + WEEK if cap > 0 else None
            return Answer(channel, False, "weekly_cap_reached", until)
    return Answer(channel, True)


def _check_channel(channel) -> str:
    if channel not in CHANNELS:
        raise ValidationFailed({"channel": [f"One of {', '.join(CHANNELS)}."]})
    return channel


def _recent(db: Session, who: VendorAccess, now: datetime) -> list[datetime]:
    return list(db.scalars(select(Contact.at).where(Contact.account_id == who.account_id,
                                                    Contact.app_id == who.app_id,
                                                    Contact.at > now - WEEK, Contact.at <= now)))


def permission(db: Session, keys: KeyService, who: VendorAccess, channel: str, *,
               now: datetime | None = None) -> Answer:
    """Whether the app may contact the customer on ``channel`` now, and if not why (and until when)."""
    now = now or utcnow()
    channel = _check_channel(channel)
    if not who.fields("read", now) & COMMUNICATION_FIELDS:
        answer, consulted = Answer(channel, False, "scope_missing"), []
    else:
        # The customer's rules protect them whatever the grant's narrowing shows the vendor:
        # the answer is a yes or no, not the values.
        prefs = records.read_fields(db, keys, who.account_id, frozenset(RULE_FIELDS))
        answer, consulted = evaluate(prefs, channel, now, _recent(db, who, now)), list(RULE_FIELDS)
    ledger.append(db, type="read", actor=who.client_id, actor_role="vendor", chain=who.chain,
                  vendor_app=who.client_id, scopes=who.scopes(), fields=consulted, purpose=who.purpose, now=now,
                  details={"endpoint": "contact_permission", "grant": who.grant_public_id, "channel": channel,
                           "allowed": answer.allowed, "reason": answer.reason})
    return answer


def record_contact(db: Session, who: VendorAccess, channel: str, at: datetime | None = None, *,
                   now: datetime | None = None) -> tuple[Contact, int]:
    """The app reports a contact it made; returns it and how many of its contacts now fall in the
    last 7 days. Needs the same consent as asking (``preferences.communication``)."""
    now = now or utcnow()
    if not who.fields("read", now) & COMMUNICATION_FIELDS:
        raise ScopeMissing(SCOPE)
    channel = _check_channel(channel)
    # A time ahead of ours is the vendor's clock running fast: the contact happened by now. (Left in
    # the future it would block the cap for days; an old one simply never counts.)
    at = min(as_utc(at), now) if at is not None else now
    contact = Contact(account_id=who.account_id, app_id=who.app_id, channel=channel, at=at, recorded_at=now)
    db.add(contact)
    db.flush()
    ledger.append(db, type="write", actor=who.client_id, actor_role="vendor", chain=who.chain,
                  vendor_app=who.client_id, scopes=who.scopes(), fields=["contacts"], purpose=who.purpose,
                  now=now, details={"endpoint": "contacts", "grant": who.grant_public_id, "channel": channel})
    count = db.scalar(select(func.count()).select_from(Contact).where(
        Contact.account_id == who.account_id, Contact.app_id == who.app_id,
        Contact.at > now - WEEK, Contact.at <= now)) or 0
    return contact, count


def contacts_for_customer(db: Session, customer_id: int, *, since: datetime | None = None,
                          app_id: int | None = None, limit: int | None = None) -> list[Contact]:
    """What apps reported about contacting the customer, newest first (for the customer's own view):
    every app's, or one ``app_id``'s; all of them, or the ``limit`` most recent."""
    stmt = select(Contact).where(Contact.account_id == customer_id)
    if app_id is not None:
        stmt = stmt.where(Contact.app_id == app_id)
    if since is not None:
        stmt = stmt.where(Contact.at >= since)
    stmt = stmt.order_by(Contact.at.desc(), Contact.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.scalars(stmt))
