"""Service cases: a reference number for every request, tracked progress, escalation when late.

The case and its whole thread live in the customer's vault: messages are sealed with the
customer's own data key (like every vault value), so the customer keeps their service history
across every vendor, and erasing the account shreds it. A vendor reaches a case only through a
live grant: ``cases.read`` to see it, ``cases.write`` to answer or move it on — the policy
decides, as for every other read or write.

Each app declares a first-response target and a resolution target (hours). A case past a
target is escalated exactly once per target: marked overdue, recorded, and the customer and the
vendor's escalation contact are notified by the caller (the worker) through the notification
service.
"""
from __future__ import annotations

import json
import secrets
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from vault import crypto
from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime, unit_of_work
from vault.errors import ValidationFailed
from vault.keys.service import KeyService
from vault.models import Account
from vault.records import data_key, ensure_data_key
from vault.schemas import UnprintableText, printable

from . import events, ledger
from . import notifications
from .errors import ConsentError, GrantInactive, GrantNotFound
from .models import VendorApp
from .policy import decide

CATEGORIES = ("question", "complaint", "repair", "return", "billing")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "waiting_on_customer", "resolved", "closed")
#: Who may move a case from one status to another (the customer closes; the vendor works it).
TRANSITIONS = {
    "vendor": {"open": {"in_progress", "waiting_on_customer", "resolved"},
               "in_progress": {"waiting_on_customer", "resolved"},
               "waiting_on_customer": {"in_progress", "resolved"},
               "resolved": {"in_progress"}},
    "customer": {"open": {"closed"}, "in_progress": {"closed"}, "waiting_on_customer": {"closed"},
                 "resolved": {"closed", "in_progress"}},
}
DEFAULT_FIRST_RESPONSE_HOURS = 24
DEFAULT_RESOLUTION_HOURS = 5 * 24
MAX_MESSAGE = 5000
PAGE = 50


class CaseConflict(ConsentError):
    """The change does not fit the case's current state (e.g. a status that cannot follow)."""


class CaseNotFound(ConsentError):
    """No such case for this customer or app (another's case looks exactly like a missing one)."""


class ServiceTargets(Base):
    """An app's promised response and resolution times, and who hears when a case is late."""

    __tablename__ = "service_targets"

    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True)
    first_response_hours: Mapped[int] = mapped_column(Integer, default=DEFAULT_FIRST_RESPONSE_HOURS)
    resolution_hours: Mapped[int] = mapped_column(Integer, default=DEFAULT_RESOLUTION_HOURS)
    escalation_email: Mapped[str | None] = mapped_column(String(254), nullable=True)


class CaseCounter(Base):
    """The last reference number issued per year (references are readable and gap-free per year)."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ServiceCase(Base):
    __tablename__ = "service_cases"
    __table_args__ = (Index("ix_service_cases_account", "account_id", "opened_at"),
                      Index("ix_service_cases_app_status", "app_id", "status"),
                      Index("ix_service_cases_open_due", "status", "due_resolution_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_first_response_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_resolution_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Escalations done, as a JSON list of "first_response" / "resolution" (each at most once).
    escalations_json: Mapped[str] = mapped_column(Text, default="[]")
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The closing comment, sealed like the messages (null when none).
    rating_comment: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    app: Mapped[VendorApp] = relationship(lazy="joined")

    @property
    def escalations(self) -> list[str]:
        return json.loads(self.escalations_json)

    def overdue(self, now: datetime) -> list[str]:
        """Which targets this case has missed by ``now`` (whether or not escalated yet)."""
        late = []
        if self.first_response_at is None and as_utc(self.due_first_response_at) <= now:
            late.append("first_response")
        if self.resolved_at is None and self.closed_at is None and as_utc(self.due_resolution_at) <= now:
            late.append("resolution")
        return late


class CaseMessage(Base):
    __tablename__ = "case_messages"
    __table_args__ = (Index("ix_case_messages_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_cases.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(16))  # customer, vendor, system
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Message:
    id: str
    author: str
    at: datetime
    text: str


# -- targets ------------------------------------------------------------------------------------

def targets_for(db: Session, app_id: int) -> ServiceTargets:
    return db.get(ServiceTargets, app_id) or ServiceTargets(
        app_id=app_id, first_response_hours=DEFAULT_FIRST_RESPONSE_HOURS,
        resolution_hours=DEFAULT_RESOLUTION_HOURS, escalation_email=None)


def set_targets(db: Session, app: VendorApp, *, first_response_hours: int, resolution_hours: int,
                escalation_email: str | None = None) -> ServiceTargets:
    errors = {}
    if not 1 <= int(first_response_hours) <= 24 * 30:
        errors["first_response_hours"] = ["Between 1 hour and 30 days."]
    if not int(first_response_hours) <= int(resolution_hours) <= 24 * 90:
        errors["resolution_hours"] = ["At least the first-response target, and at most 90 days."]
    if escalation_email and "@" not in escalation_email:
        errors["escalation_email"] = ["An email address."]
    if errors:
        raise ValidationFailed(errors)
    row = db.get(ServiceTargets, app.id)
    if row is None:
        row = ServiceTargets(app_id=app.id)
        db.add(row)
    row.first_response_hours, row.resolution_hours = int(first_response_hours), int(resolution_hours)
    row.escalation_email = escalation_email or None
    db.flush()
    return row


# -- sealing ------------------------------------------------------------------------------------

def _seal(dek: bytes, case: ServiceCase, label: str, text: str) -> bytes:
    return crypto.seal_field(dek, str(case.account_id), f"case:{case.reference}:{label}", text.encode())


def _open(dek: bytes, case: ServiceCase, label: str, blob: bytes) -> str:
    return crypto.open_field(dek, str(case.account_id), f"case:{case.reference}:{label}", blob).decode()


def _printable(value: str, field: str) -> str:
    """A message's text stripped, its line breaks plain, refused with a control character in it."""
    try:
        return printable((value or "").strip(), multiline=True)
    except UnprintableText as exc:
        raise ValidationFailed({field: [str(exc)]}) from None


def _text(value: str, field: str, *, limit: int = MAX_MESSAGE) -> str:
    value = _printable(value, field)
    if not value:
        raise ValidationFailed({field: ["Write something."]})
    if len(value) > limit:
        raise ValidationFailed({field: [f"At most {limit} characters."]})
    return value


# -- customer side ------------------------------------------------------------------------------

def _next_reference(db: Session, now: datetime) -> str:
    """``VV-<year>-<6 digits>``: one row per year bumped in the caller's transaction (no gaps)."""
    year = now.year
    bumped = db.execute(update(CaseCounter).where(CaseCounter.year == year)
                        .values(last=CaseCounter.last + 1).returning(CaseCounter.last)).scalar()
    if bumped is None:
        db.add(CaseCounter(year=year, last=1))
        db.flush()
        bumped = 1
    return f"VV-{year}-{bumped:06d}"


def open_case(db: Session, keys: KeyService, customer: Account, app: VendorApp, *, category: str,
              description: str, priority: str = "normal", now: datetime | None = None) -> ServiceCase:
    """The customer opens a case with a vendor they are connected to now."""
    now = now or utcnow()
    errors = {}
    if category not in CATEGORIES:
        errors["category"] = ["Choose a kind of request."]
    if priority not in PRIORITIES:
        errors["priority"] = ["Choose a priority."]
    try:
        description = _text(description, "description")
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    try:
        decide(db, customer.id, app.id, now=now)
    except (GrantNotFound, GrantInactive):
        raise CaseConflict("You can open a case only with a vendor you are connected to.") from None
    targets = targets_for(db, app.id)
    case = ServiceCase(reference=_next_reference(db, now), account_id=customer.id, app_id=app.id, app=app,
                       category=category, priority=priority, status="open", opened_at=now, updated_at=now,
                       due_first_response_at=now + timedelta(hours=targets.first_response_hours),
                       due_resolution_at=now + timedelta(hours=targets.resolution_hours))
    db.add(case)
    db.flush()
    _add_message(db, ensure_data_key(db, keys, customer), case, "customer", description, now)
    _record(db, customer.public_id, case, "write", actor=customer.public_id, actor_role="customer",
            action="open", now=now)
    _tell_vendor(db, case, "case.opened", "open", now)
    return case


def _add_message(db: Session, dek: bytes, case: ServiceCase, author: str, text: str, now: datetime) -> CaseMessage:
    public_id = "m_" + secrets.token_urlsafe(12)
    message = CaseMessage(public_id=public_id, case_id=case.id, author=author, created_at=now,
                          body=_seal(dek, case, f"message:{public_id}", text))
    db.add(message)
    case.updated_at = now
    db.flush()
    return message


def _record(db: Session, chain: str, case: ServiceCase, type: str, *, actor: str, actor_role: str,
            action: str, now: datetime) -> None:
    ledger.append(db, type=type, actor=actor, actor_role=actor_role, chain=chain,
                  vendor_app=case.app.client_id, fields=["cases"], now=now,
                  details={"case": case.reference, "action": action})


def _case_facts(case: ServiceCase, action: str) -> dict:
    """What a webhook says about a case: its state and deadlines, never the thread (the vendor
    reads that through the API, where the grant is checked at that moment)."""
    return {"reference": case.reference, "action": action, "status": case.status, "category": case.category,
            "priority": case.priority, "due_first_response_at": as_utc(case.due_first_response_at).isoformat(),
            "due_resolution_at": as_utc(case.due_resolution_at).isoformat()}


def _tell_vendor(db: Session, case: ServiceCase, type: str, action: str, now: datetime) -> None:
    events.emit(db, type=type, app_id=case.app_id, account_id=case.account_id, data=_case_facts(case, action),
                now=now)


def _tell_customer(db: Session, customer: Account, case: ServiceCase, event: str, now: datetime,
                   once_key: str | None = None) -> None:
    notifications.notify(db, account=customer, event=event, now=now, once_key=once_key,
                         params={"vendor": case.app.name, "reference": case.reference})


def for_customer(db: Session, customer_id: int, *, status: str | None = None) -> list[ServiceCase]:
    stmt = select(ServiceCase).where(ServiceCase.account_id == customer_id)
    if status:
        stmt = stmt.where(ServiceCase.status == status)
    return list(db.scalars(stmt.order_by(ServiceCase.opened_at.desc(), ServiceCase.id.desc())))


def get_for_customer(db: Session, customer_id: int, reference: str) -> ServiceCase:
    case = db.scalar(select(ServiceCase).where(ServiceCase.reference == reference,
                                               ServiceCase.account_id == customer_id))
    if case is None:
        raise CaseNotFound("No such case.")
    return case


def messages(db: Session, keys: KeyService, case: ServiceCase) -> list[Message]:
    rows = db.scalars(select(CaseMessage).where(CaseMessage.case_id == case.id).order_by(CaseMessage.id)).all()
    if not rows:
        return []
    dek = data_key(db, keys, case.account_id)
    return [Message(r.public_id, r.author, as_utc(r.created_at), _open(dek, case, f"message:{r.public_id}", r.body))
            for r in rows]


def customer_reply(db: Session, keys: KeyService, customer: Account, case: ServiceCase, text: str,
                   *, now: datetime | None = None) -> None:
    now = now or utcnow()
    if case.status == "closed":
        raise CaseConflict("This case is closed.")
    _add_message(db, ensure_data_key(db, keys, customer), case, "customer", _text(text, "message"), now)
    if case.status == "waiting_on_customer":
        case.status = "in_progress"
    _record(db, customer.public_id, case, "write", actor=customer.public_id, actor_role="customer",
            action="reply", now=now)
    _tell_vendor(db, case, "case.updated", "customer_reply", now)


def close(db: Session, keys: KeyService, customer: Account, case: ServiceCase, *, rating: int | None,
          comment: str = "", now: datetime | None = None) -> None:
    """The customer closes the case and rates it (1-5, optional comment the vendor sees)."""
    now = now or utcnow()
    if case.status == "closed":
        raise CaseConflict("This case is already closed.")
    if rating is not None and not 1 <= int(rating) <= 5:
        raise ValidationFailed({"rating": ["From 1 to 5 stars."]})
    comment = _printable(comment, "comment")
    if len(comment) > 1000:
        raise ValidationFailed({"comment": ["At most 1000 characters."]})
    case.status, case.closed_at, case.updated_at = "closed", now, now
    case.rating = int(rating) if rating is not None else None
    case.rating_comment = _seal(ensure_data_key(db, keys, customer), case, "rating_comment", comment) if comment else None
    _record(db, customer.public_id, case, "write", actor=customer.public_id, actor_role="customer",
            action="close", now=now)
    _tell_vendor(db, case, "case.updated", "close", now)


def close_for_erasure(db: Session, customer: Account, *, now: datetime | None = None) -> int:
    """Close every case of a customer who is erasing their account that is not closed yet.

    Each vendor hears ``case.updated`` with action ``account_erased`` and status ``closed`` (the
    thread goes with the account, so there is nothing left to answer). Call it before the grants
    and the account go: the event is addressed by the app's pairwise ``sub``. Returns how many.
    """
    now = now or utcnow()
    open_cases = db.scalars(select(ServiceCase).where(ServiceCase.account_id == customer.id,
                                                      ServiceCase.status != "closed")
                            .order_by(ServiceCase.id).with_for_update(of=ServiceCase)).all()
    for case in open_cases:
        case.status, case.closed_at, case.updated_at = "closed", now, now
        _record(db, customer.public_id, case, "write", actor=customer.public_id, actor_role="customer",
                action="account_erased", now=now)
        _tell_vendor(db, case, "case.updated", "account_erased", now)
    db.flush()
    return len(open_cases)


def read_rating_comment(db: Session, keys: KeyService, case: ServiceCase) -> str:
    if case.rating_comment is None:
        return ""
    return _open(data_key(db, keys, case.account_id), case, "rating_comment", case.rating_comment)


# -- vendor side --------------------------------------------------------------------------------

def _permitted(db: Session, case: ServiceCase, access: str, now: datetime) -> None:
    """The policy decides: the case's customer must grant this app cases.<access> right now."""
    try:
        decision = decide(db, case.account_id, case.app_id, access, now=now)
    except (GrantNotFound, GrantInactive):
        raise CaseNotFound("No such case.") from None
    if "cases" not in decision.fields:
        raise CaseNotFound("No such case.")


def for_app(db: Session, app_id: int, *, status: str | None = None, after_id: int | None = None,
            limit: int = PAGE, now: datetime | None = None) -> tuple[list[ServiceCase], int | None]:
    """This app's cases whose customers grant it ``cases.read`` now, oldest first, paged by id.

    Returns the visible cases and the id to continue after (None at the end).
    """
    now = now or utcnow()
    stmt = select(ServiceCase).where(ServiceCase.app_id == app_id)
    if status:
        stmt = stmt.where(ServiceCase.status == status)
    if after_id:
        stmt = stmt.where(ServiceCase.id > after_id)
    visible, scanned = [], db.scalars(stmt.order_by(ServiceCase.id).limit(limit)).all()
    # filter through the policy; a short page only means some customers did not share cases
    for case in scanned:
        try:
            _permitted(db, case, "read", now)
        except CaseNotFound:
            continue
        visible.append(case)
    return visible, (scanned[-1].id if len(scanned) == limit else None)


def get_for_app(db: Session, app_id: int, reference: str, access: str = "read",
                now: datetime | None = None) -> ServiceCase:
    case = db.scalar(select(ServiceCase).where(ServiceCase.reference == reference, ServiceCase.app_id == app_id))
    if case is None:
        raise CaseNotFound("No such case.")
    _permitted(db, case, access, now or utcnow())
    return case


def vendor_read(db: Session, case: ServiceCase, *, now: datetime | None = None) -> None:
    """A vendor looked at the case: one read entry on the customer's chain."""
    customer = db.get(Account, case.account_id)
    _record(db, customer.public_id, case, "read", actor=case.app.client_id, actor_role="vendor",
            action="view", now=now or utcnow())


def vendor_reply(db: Session, keys: KeyService, case: ServiceCase, text: str, *, status: str | None = None,
                 now: datetime | None = None) -> None:
    now = now or utcnow()
    _permitted(db, case, "write", now)
    if case.status == "closed":
        raise CaseConflict("This case is closed.")
    _add_message(db, data_key(db, keys, case.account_id), case, "vendor", _text(text, "message"), now)
    if case.first_response_at is None:
        case.first_response_at = now
    if status and status != case.status:
        _move(case, "vendor", status, now)
    customer = db.get(Account, case.account_id)
    _record(db, customer.public_id, case, "write", actor=case.app.client_id, actor_role="vendor",
            action="reply", now=now)
    _tell_customer(db, customer, case, "case_updated", now)


def vendor_set_status(db: Session, case: ServiceCase, status: str, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    _permitted(db, case, "write", now)
    _move(case, "vendor", status, now)
    customer = db.get(Account, case.account_id)
    _record(db, customer.public_id, case, "write", actor=case.app.client_id, actor_role="vendor",
            action=f"status_{status}", now=now)
    _tell_customer(db, customer, case, "case_updated", now)


def _move(case: ServiceCase, who: str, status: str, now: datetime) -> None:
    if status not in STATUSES:
        raise ValidationFailed({"status": [f"One of {', '.join(STATUSES)}."]})
    if status not in TRANSITIONS[who].get(case.status, set()):
        raise CaseConflict(f"A case that is {case.status} cannot become {status}.")
    case.status, case.updated_at = status, now
    if status == "resolved":
        case.resolved_at = now
    elif status == "in_progress":
        case.resolved_at = None


# -- escalation and reports ---------------------------------------------------------------------

@dataclass(frozen=True)
class Escalation:
    case: ServiceCase
    target: str  # "first_response" or "resolution"
    escalation_email: str | None


def escalate_due(db: Session, *, now: datetime | None = None, limit: int = 500) -> list[Escalation]:
    """Mark every case past a target as escalated for that target, once, and tell everyone:
    the customer (notification), the vendor's software (``case.escalated`` webhook) and the
    vendor's escalation contact (email). Safe beside other workers: rows are claimed with
    SKIP LOCKED and each target is recorded on the case before anyone is told."""
    now = now or utcnow()
    candidates = db.scalars(
        select(ServiceCase).where(ServiceCase.status.not_in(["resolved", "closed"]),
                                  (ServiceCase.due_first_response_at <= now) | (ServiceCase.due_resolution_at <= now))
        .order_by(ServiceCase.id).limit(limit).with_for_update(of=ServiceCase, skip_locked=True)).all()
    done = []
    for case in candidates:
        fresh = [t for t in case.overdue(now) if t not in case.escalations]
        if not fresh:
            continue
        case.escalations_json = json.dumps(case.escalations + fresh)
        customer = db.get(Account, case.account_id)
        for target in fresh:
            ledger.append(db, type="write", actor="system", actor_role="system", chain=customer.public_id,
                          vendor_app=case.app.client_id, fields=["cases"], now=now,
                          details={"case": case.reference, "action": f"escalated_{target}"})
            contact = targets_for(db, case.app_id).escalation_email
            done.append(Escalation(case, target, contact))
            _tell_customer(db, customer, case, "case_escalated", now, once_key=f"{case.reference}:{target}")
            _tell_vendor(db, case, "case.escalated", f"escalated_{target}", now)
            if contact:
                notifications.notify_address(db, email=contact, event="case_escalated_vendor", now=now,
                                             params={"vendor": case.app.name, "reference": case.reference,
                                                     "target": target.replace("_", " ")})
    db.flush()
    return done


def escalate_round(sessions, now: datetime | None = None) -> dict:
    """One worker round of :func:`escalate_due`, committed."""
    with unit_of_work(sessions) as db:
        return {"escalated": len(escalate_due(db, now=now))}


@dataclass(frozen=True)
class ServiceReport:
    app_id: int
    app_name: str
    cases: int
    median_first_response_hours: float | None
    resolved: int
    resolved_on_time_share: float | None
    overdue_now: int
    escalated: int
    average_rating: float | None


def service_report(db: Session, *, since: datetime | None = None, now: datetime | None = None) -> list[ServiceReport]:
    """Per vendor app: median first response, share resolved on time, overdue and escalated counts."""
    now = now or utcnow()
    stmt = select(ServiceCase)
    if since is not None:
        stmt = stmt.where(ServiceCase.opened_at >= since)
    by_app: dict[int, list[ServiceCase]] = {}
    for case in db.scalars(stmt):
        by_app.setdefault(case.app_id, []).append(case)
    out = []
    for app_id, cases in sorted(by_app.items()):
        responses = [(as_utc(c.first_response_at) - as_utc(c.opened_at)).total_seconds() / 3600
                     for c in cases if c.first_response_at]
        resolved = [c for c in cases if c.resolved_at or c.closed_at]
        on_time = [c for c in resolved
                   if as_utc(c.resolved_at or c.closed_at) <= as_utc(c.due_resolution_at)]
        ratings = [c.rating for c in cases if c.rating]
        out.append(ServiceReport(
            app_id=app_id, app_name=cases[0].app.name, cases=len(cases),
            median_first_response_hours=round(statistics.median(responses), 2) if responses else None,
            resolved=len(resolved),
            resolved_on_time_share=round(len(on_time) / len(resolved), 3) if resolved else None,
            overdue_now=sum(1 for c in cases if c.overdue(now)),
            escalated=sum(1 for c in cases if c.escalations),
            average_rating=round(sum(ratings) / len(ratings), 2) if ratings else None))
    return out


def count_open(db: Session, app_id: int) -> int:
    return db.scalar(select(func.count()).select_from(ServiceCase).where(
        ServiceCase.app_id == app_id, ServiceCase.status.not_in(["resolved", "closed"]))) or 0
