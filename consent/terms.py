"""Proffered terms: the customer's own privacy terms, which vendors accept (IEEE 7012 in spirit).

Classic consent is the vendor's terms, accepted by the customer. Here the direction flips: the
customer proffers one of a few standard, machine-readable terms; each app declares which terms it
accepts; when a customer connects, the consent screen says whether this vendor accepts the
customer's terms and, if it does, the agreement (which terms, which version, their hash, when the
customer proffered them, when the vendor accepted them, when they met) is fixed into the grant,
its signed receipt and ``GET /api/v1/me/terms``.

The catalogue is data, like the scope catalogue: a term's obligations are what a machine reads,
its title and summary what people read (English and Arabic). A term's ``digest`` covers its
machine-readable document, so a later edit of the catalogue cannot change what was agreed:
changing the document means a new version, and stored agreements keep the old hash.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vault.clock import as_utc, utcnow
from vault.db import Base, UTCDateTime
from vault.errors import ValidationFailed
from vault.models import Account

from .models import VendorApp

TERMS_FORMAT = "vrm-vault-terms/1"


@dataclass(frozen=True)
class StandardTerm:
    id: str
    version: int
    title: Mapping[str, str] = field(hash=False)
    summary: Mapping[str, str] = field(hash=False)
    #: What the vendor agrees to, for machines: every key is a yes/no or a closed value.
    obligations: Mapping[str, object] = field(hash=False)

    def document(self) -> dict:
        """The machine-readable term, exactly what ``digest`` covers."""
        return {"format": TERMS_FORMAT, "id": self.id, "version": self.version,
                "title": self.title["en"], "obligations": dict(self.obligations)}

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(_canonical(self.document())).hexdigest()

    def label(self, lang: str) -> str:
        return self.title.get(lang) or self.title["en"]

    def explain(self, lang: str) -> str:
        return self.summary.get(lang) or self.summary["en"]


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_BASE = {"purpose": "this-service-only", "third_party_sharing": False, "sale_of_data": False,
         "delete_on_withdrawal": True, "personalisation": False, "aggregate_statistics": False}

CATALOGUE: dict[str, StandardTerm] = {t.id: t for t in (
    StandardTerm(
        id="vrm-service-only", version=1,
        title={"en": "For this service only", "ar": "لهذه الخدمة فقط"},
        summary={"en": "Use my data only to provide the service I asked for; share it with no one else; "
                       "delete it when I withdraw consent.",
                 "ar": "استخدم بياناتي فقط لتقديم الخدمة التي طلبتها، ولا تشاركها مع أي طرف آخر، "
                       "واحذفها عندما أسحب موافقتي."},
        obligations=_BASE),
    StandardTerm(
        id="vrm-service-personalised", version=1,
        title={"en": "This service, personalised", "ar": "هذه الخدمة مع التخصيص"},
        summary={"en": "As \"for this service only\", and you may also use my data to personalise what "
                       "you show me.",
                 "ar": "مثل «لهذه الخدمة فقط»، ويجوز لك أيضًا استخدام بياناتي لتخصيص ما تعرضه عليّ."},
        obligations={**_BASE, "personalisation": True}),
    StandardTerm(
        id="vrm-service-personalised-stats", version=1,
        title={"en": "Personalised, plus anonymous statistics",
               "ar": "مع التخصيص وإحصاءات مجهولة الهوية"},
        summary={"en": "As \"this service, personalised\", and you may also count my data in anonymous, "
                       "aggregate statistics that identify no one.",
                 "ar": "مثل «هذه الخدمة مع التخصيص»، ويجوز لك أيضًا إدراج بياناتي في إحصاءات مجمّعة "
                       "مجهولة الهوية لا تكشف عن أي شخص."},
        obligations={**_BASE, "personalisation": True, "aggregate_statistics": True}),
)}

#: What a customer proffers until they choose: the strictest term.
DEFAULT_TERM = "vrm-service-only"


def get_term(term_id: str) -> StandardTerm:
    try:
        return CATALOGUE[term_id]
    except KeyError:
        raise ValidationFailed({"terms": [f"Unknown terms {term_id!r}."]}) from None


def published(base_url: str) -> dict:
    """The catalogue as served at ``/.well-known/vrm-terms``."""
    return {"format": TERMS_FORMAT, "default": DEFAULT_TERM,
            "terms": [{**t.document(), "digest": t.digest,
                       "title_i18n": dict(t.title), "summary_i18n": dict(t.summary),
                       "url": f"{base_url.rstrip('/')}/.well-known/vrm-terms#{t.id}"}
                      for t in CATALOGUE.values()]}


class ProfferedTerms(Base):
    """The terms a customer offers every vendor (one row per customer who chose)."""

    __tablename__ = "proffered_terms"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    term_id: Mapped[str] = mapped_column(String(64))
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TermsAcceptance(Base):
    """An app's declaration that it accepts one standard term, and since when."""

    __tablename__ = "terms_acceptances"

    app_id: Mapped[int] = mapped_column(ForeignKey("vendor_apps.id", ondelete="CASCADE"), primary_key=True)
    term_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Proffer:
    term: StandardTerm
    since: datetime


def proffered(db: Session, account: Account) -> Proffer:
    """The customer's terms; the default counts as proffered since the account exists."""
    row = db.get(ProfferedTerms, account.id)
    if row is None:
        return Proffer(CATALOGUE[DEFAULT_TERM], as_utc(account.created_at))
    return Proffer(CATALOGUE.get(row.term_id, CATALOGUE[DEFAULT_TERM]), as_utc(row.chosen_at))


def choose(db: Session, account: Account, term_id: str, *, now: datetime | None = None) -> Proffer:
    """The customer proffers ``term_id`` from now on. Grants already made keep their agreement."""
    term, now = get_term(term_id), now or utcnow()
    row = db.get(ProfferedTerms, account.id)
    if row is None:
        db.add(ProfferedTerms(account_id=account.id, term_id=term.id, chosen_at=now))
    elif row.term_id != term.id:
        row.term_id, row.chosen_at = term.id, now
    db.flush()
    return proffered(db, account)


def accepted(db: Session, app_id: int) -> dict[str, datetime]:
    """Term id -> when this app declared it accepts it."""
    rows = db.execute(select(TermsAcceptance.term_id, TermsAcceptance.accepted_at)
                      .where(TermsAcceptance.app_id == app_id))
    return {term_id: as_utc(at) for term_id, at in rows}


def set_accepted(db: Session, app: VendorApp, term_ids, *, now: datetime | None = None) -> dict[str, datetime]:
    """The app accepts exactly ``term_ids``; terms it already accepted keep their original time."""
    wanted = {get_term(t).id for t in term_ids}
    now = now or utcnow()
    current = {row.term_id: row for row in db.scalars(select(TermsAcceptance)
                                                      .where(TermsAcceptance.app_id == app.id))}
    for term_id, row in current.items():
        if term_id not in wanted:
            db.delete(row)
    for term_id in wanted - current.keys():
        db.add(TermsAcceptance(app_id=app.id, term_id=term_id, accepted_at=now))
    db.flush()
    return accepted(db, app.id)


@dataclass(frozen=True)
class Match:
    """What the consent screen says about terms: the customer's, and whether this app accepts them."""

    proffer: Proffer
    accepted_at: datetime | None

    @property
    def agreed(self) -> bool:
        return self.accepted_at is not None


def match(db: Session, account: Account, app: VendorApp) -> Match:
    proffer = proffered(db, account)
    return Match(proffer, accepted(db, app.id).get(proffer.term.id))


def agreement(db: Session, account: Account, app: VendorApp, now: datetime) -> dict | None:
    """The agreement fixed into a grant made ``now``, or None when the app does not accept the terms.

    ``agreement_hash`` covers the term's digest and the three times, so the agreement itself can
    be checked later against the receipt it appears in.
    """
    found = match(db, account, app)
    if not found.agreed:
        return None
    term = found.proffer.term
    facts = {"terms_id": term.id, "terms_version": term.version, "terms_digest": term.digest,
             "proffered_at": _iso(found.proffer.since), "accepted_at": _iso(found.accepted_at),
             "agreed_at": _iso(now)}
    return {**facts, "terms_title": term.title["en"], "obligations": dict(term.obligations),
            "agreement_hash": "sha256:" + hashlib.sha256(_canonical(facts)).hexdigest()}


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")
