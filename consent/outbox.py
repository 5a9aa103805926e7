"""Tables of the event outbox: what happened per app, where to send it, and how sending went.

``app_events`` is both the webhook outbox and the change feed. A row is written in the same
transaction as the change it describes (see :mod:`consent.events`), so a rolled-back change
leaves no event. Rows name the customer only by the app's pairwise ``subject``; ``chain`` (the
customer's pseudonymous ledger chain) is kept for our own bookkeeping and never sent.

Feed positions. Autoincrement ids are allocated at insert but become visible at commit, so a
reader paging by id can pass over a row whose id was taken early and committed late. Events are
therefore written unsealed (``position`` null) and sealed afterwards, one app at a time under a
row lock on that app's :class:`AppEventCounter` (see :mod:`consent.feed`): positions are handed
out only to committed rows, strictly in order, without gaps, and a reader sees position *n* only
after every position below it has committed.
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, \
    UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from vault.clock import utcnow
from vault.db import Base, UTCDateTime

DELIVERY_STATES = ("pending", "delivered", "failed")


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(16)


class AppEvent(Base):
    """One event for one app: a consent change, a change to consented fields, an erasure."""

    __tablename__ = "app_events"
    __table_args__ = (UniqueConstraint("app_id", "position"),
                      Index("ix_app_events_app_subject", "app_id", "subject"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_event_id)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    #: The customer's pairwise id at this app; null for events about no customer (webhook.test).
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The customer's ledger chain (``Account.public_id``), internal only: no foreign key, because
    #: the event outlives an erased account.
    chain: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: False for events that are only ever sent by webhook (``webhook.test``), never fed.
    in_feed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: The place in the app's change feed, set by the sealing step; null until then.
    position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    @property
    def data(self) -> dict:
        return json.loads(self.data_json)


class AppEventCounter(Base):
    """The last feed position handed out per app; its row lock orders the sealing."""

    __tablename__ = "app_event_counters"

    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True)
    last_position: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookEndpoint(Base):
    """Where an app wants its events, and the secret they are signed with.

    The secret must be usable for HMAC, so it cannot be kept as a hash: it is sealed with AES-GCM
    under the active key-encryption key (the same keyring that wraps customers' data keys),
    bound to the app's client id, and opened only by the worker to sign.
    """

    __tablename__ = "webhook_endpoints"

    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    kek_id: Mapped[str] = mapped_column(String(64))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """Sending one event to one endpoint: attempts, when to try next, and the last outcome.

    ``claimed_until`` is a lease: a worker claims a due row by moving it into the future in one
    atomic statement, so two workers never send the same delivery at once, and a crashed
    worker's claim simply runs out.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
                      Index("ix_webhook_deliveries_app", "app_id", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("app_events.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
