"""Issue, store and look up the signed consent receipts of grant changes."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.models import Account

from .context import ConsentContext
from .models import ConsentReceipt, Grant
from .policy import shared_fields
from .receipts import ReceiptFacts, dpv_receipt, kantara_receipt, sign_receipt

RECEIPT_LANGUAGES = ("en", "ar")


def receipt_language(customer: Account) -> str:
    return customer.locale if customer.locale in RECEIPT_LANGUAGES else "en"


def facts_for(ctx: ConsentContext, grant: Grant, customer: Account, event: str, now: datetime) -> ReceiptFacts:
    app = grant.app
    return ReceiptFacts.new(
        issued_at=now, event=event, language=receipt_language(customer),
        jurisdiction=app.org.jurisdiction or "EU", subject_id=customer.public_id,
        issuer={"name": ctx.issuer_name, "url": ctx.issuer_url},
        controller={"name": app.org.name, "url": app.org.website, "contact": app.org.contact_email},
        purpose=grant.purpose, purpose_category=grant.purpose_category, lawful_basis=grant.lawful_basis,
        scope_ids=tuple(grant.scopes), fields=tuple(sorted(shared_fields(grant))),
        status=grant.status, granted_at=grant.granted_at, expires_at=grant.expires_at,
        withdrawn_at=grant.revoked_at, policy_url=app.website,
        withdrawal_url=ctx.url("/me/"), consent_id=grant.public_id, terms=grant.terms_agreement)


def issue(db: Session, ctx: ConsentContext, grant: Grant, customer: Account, event: str,
          now: datetime) -> ConsentReceipt:
    """Sign the receipt of ``event`` in both formats and keep it with the grant."""
    facts = facts_for(ctx, grant, customer, event, now)
    receipt = ConsentReceipt(
        id=facts.receipt_id, grant_id=grant.id, account_id=customer.id, event=event,
        language=facts.language, created_at=now,
        facts_json=_dump_facts(facts),
        kantara_jws=sign_receipt(kantara_receipt(facts), ctx.signing),
        dpv_jws=sign_receipt(dpv_receipt(facts), ctx.signing))
    db.add(receipt)
    db.flush()
    return receipt


_DATES = ("issued_at", "granted_at", "expires_at", "withdrawn_at")


def _dump_facts(facts: ReceiptFacts) -> str:
    data = {f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)}
    for name in _DATES:
        data[name] = data[name].isoformat() if data[name] else None
    for name in ("issuer", "controller"):
        data[name] = dict(data[name])
    data["terms"] = json.loads(json.dumps(dict(data["terms"]), default=list)) if data["terms"] else None
    data["scope_ids"], data["fields"] = list(data["scope_ids"]), list(data["fields"])
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def load_facts(receipt: ConsentReceipt) -> ReceiptFacts:
    """The facts a stored receipt was issued from (for the readable view)."""
    data = json.loads(receipt.facts_json)
    for name in _DATES:
        data[name] = datetime.fromisoformat(data[name]) if data[name] else None
    data["scope_ids"], data["fields"] = tuple(data["scope_ids"]), tuple(data["fields"])
    return ReceiptFacts(**data)


def receipts_for_grant(db: Session, grant_id: int) -> list[ConsentReceipt]:
    return list(db.scalars(select(ConsentReceipt).where(ConsentReceipt.grant_id == grant_id)
                           .order_by(ConsentReceipt.created_at.desc())))


def receipt_of(db: Session, account_id: int, receipt_id: str) -> ConsentReceipt | None:
    """A customer's own receipt; another customer's id finds nothing."""
    return db.scalar(select(ConsentReceipt).where(ConsentReceipt.id == receipt_id,
                                                  ConsentReceipt.account_id == account_id))
