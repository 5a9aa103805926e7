"""Tables of the notification service: the customer's channel choices, the items, the outbox.

A :class:`Notification` is one event for one recipient: it is the in-portal item (when it
belongs to an account) and the source of every message. A :class:`Delivery` is one message on
one channel (email or SMS): the outbox row the worker claims, sends and marks sent. Params are
plain JSON and never hold vault values (see :mod:`.catalogue`).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.clock import utcnow
from vault.db import Base, UTCDateTime

DELIVERY_STATES = ("pending", "sending", "sent", "failed", "skipped")


class NotificationChoice(Base):
    """A customer's channels for one event type; no row means the catalogue's defaults."""

    __tablename__ = "notification_choices"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    event: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """One event for one recipient: an account (portal item + messages) or a bare address."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_account", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True,
                                           default=lambda: "n_" + secrets.token_urlsafe(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    #: Only for recipients without an account (e.g. after erasure, a vendor's escalation contact).
    email_to: Mapped[str | None] = mapped_column(String(254), nullable=True)
    event: Mapped[str] = mapped_column(String(32))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    #: The recipient's language when the event happened: messages are rendered in it.
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Set for events that must happen once only (e.g. "grant_expiring:<grant>:<expiry>"); the
    #: unique constraint is what makes a second scan, even a concurrent one, a no-op.
    once_key: Mapped[str | None] = mapped_column(String(120), unique=True, nullable=True)

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @params.setter
    def params(self, value: dict) -> None:
        self.params_json = json.dumps(value, sort_keys=True, ensure_ascii=False)


class Delivery(Base):
    """One message of a notification on one channel: an outbox row.

    ``pending`` rows whose ``due_at`` has come are claimed by a worker (``sending`` with a lease,
    ``claim`` naming the claimer); the claimer alone may mark them ``sent``, or put them back
    ``pending`` with a later ``due_at`` (backoff, quiet hours). A lease that runs out (a worker
    died mid-send) makes the row claimable again.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "channel"),
                      Index("ix_notification_deliveries_due", "state", "due_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Why the last attempt failed or was skipped: a code or error class, never content.
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)

    notification: Mapped[Notification] = relationship(lazy="joined")
