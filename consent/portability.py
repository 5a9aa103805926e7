"""Everything a customer has, to take away (export) or to have destroyed (erase)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import accounts, records
from vault.clock import as_utc, utcnow
from vault.keys.service import KeyService
from vault.models import Account

from . import cases, contact, events, grants, intents, issuing, ledger, purchases
from .context import ConsentContext
from .intents import Intent
from .models import Grant, VendorApp
from .notifications.catalogue import EVENTS as NOTIFICATION_EVENTS, render
from .notifications.models import Notification
from .policy import is_live


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


def export_all(db: Session, keys: KeyService, customer: Account, *, now: datetime | None = None) -> dict:
    """The customer's vault values, grants, receipts, purchases, service cases, intents and the
    offers on them, notifications, the contacts vendors reported, and the ledger, as one JSON-ready
    document: everything the vault holds about them, opened with their data key.

    Writes an ``export`` ledger entry: taking data out is itself something the record shows.
    """
    now = now or utcnow()
    connections = []
    for grant in grants.list_for_customer(db, customer.id):
        connections.append({
            "vendor": grant.app.org.name, "app": grant.app.name, "client_id": grant.app.client_id,
            "your_id_at_this_app": grant.subject, "status": grant.status, "scopes": grant.scopes,
            "fields": grant.fields, "purpose": grant.purpose,
            "granted_at": grant.granted_at.isoformat(),
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
            "receipts": [{"id": r.id, "event": r.event, "created_at": r.created_at.isoformat(),
                          "kantara_jws": r.kantara_jws, "iso27560_jws": r.dpv_jws}
                         for r in issuing.receipts_for_grant(db, grant.id)],
        })
    ledger.append(db, type="export", actor=customer.public_id, actor_role="customer",
                  chain=customer.public_id, now=now)
    history = [entry.data for entry in ledger.iter_chain(db, customer.public_id)]
    return {
        "format": "vrm-vault-export/1", "exported_at": now.isoformat(),
        "account": {"id": customer.public_id, "email": customer.email, "created_at": customer.created_at.isoformat(),
                    "language": customer.locale},
        "vault": records.export_fields(db, keys, customer.id),
        "connections": connections,
        "purchases": _purchases(db, keys, customer.id),
        "service_cases": _cases(db, keys, customer.id),
        "intents": _intents(db, keys, customer.id, now),
        "notifications": _notifications(db, customer),
        "contacts_reported": _contacts(db, customer.id),
        "ledger": history,
    }


def _purchases(db: Session, keys: KeyService, customer_id: int) -> list[dict]:
    """Every purchase, opened: the vendor's order with its items and the customer's annotations."""
    out = []
    for view in purchases.history(db, keys, customer_id):
        app = db.get(VendorApp, view.app_id) if view.app_id is not None else None
        out.append({
            "id": view.public_id, "source": view.source, "merchant": view.merchant,
            "client_id": app.client_id if app is not None else None, "order_id": view.order_id,
            "date": view.date, "status": view.status, "currency": view.currency, "total": view.total,
            "shipping": view.shipping, "tax": view.tax, "discount": view.discount, "items": view.items,
            "annotations": view.context, "created_at": _iso(view.created_at), "updated_at": _iso(view.updated_at),
        })
    return out


def _cases(db: Session, keys: KeyService, customer_id: int) -> list[dict]:
    """Every service case with its whole thread and the customer's rating."""
    out = []
    for case in cases.for_customer(db, customer_id):
        out.append({
            "reference": case.reference, "vendor": case.app.name, "client_id": case.app.client_id,
            "category": case.category, "priority": case.priority, "status": case.status,
            "opened_at": _iso(case.opened_at), "updated_at": _iso(case.updated_at),
            "due_first_response_at": _iso(case.due_first_response_at),
            "due_resolution_at": _iso(case.due_resolution_at), "first_response_at": _iso(case.first_response_at),
            "resolved_at": _iso(case.resolved_at), "closed_at": _iso(case.closed_at),
            "escalations": case.escalations, "rating": case.rating,
            "rating_comment": cases.read_rating_comment(db, keys, case) or None,
            "messages": [{"id": m.id, "author": m.author, "at": m.at.isoformat(), "text": m.text}
                         for m in cases.messages(db, keys, case)],
        })
    return out


def _intents(db: Session, keys: KeyService, customer_id: int, now: datetime) -> list[dict]:
    """Every intent the customer published, with every offer received on it, opened."""
    found = intents.for_customer(db, customer_id)
    dek = records.data_key(db, keys, customer_id) if found else None
    out = []
    for intent in found:
        text = intents.intent_text(db, keys, intent, dek=dek)
        out.append({
            "id": intent.public_id, "category": intent.category, "title": text.title,
            "description": text.description, "city": text.city, "country": intent.country,
            "budget_min": intent.budget_min, "budget_max": intent.budget_max, "currency": intent.currency,
            "needed_by": intent.needed_by.isoformat() if intent.needed_by else None,
            "visibility": intent.visibility,
            "audience": [app.client_id for app in intents.audience_of(db, intent)],
            "status": intent.current_status(now), "created_at": _iso(intent.created_at),
            "expires_at": _iso(intent.expires_at), "closed_at": _iso(intent.closed_at),
            "offers": [{"id": row.offer.public_id, "vendor": row.offer.app.name,
                        "client_id": row.offer.app.client_id, "price": row.offer.price,
                        "currency": row.offer.currency, "description": row.text.description,
                        "terms": row.text.terms, "scopes_asked": row.offer.scopes, "status": row.offer.status,
                        "valid_until": _iso(row.offer.valid_until), "created_at": _iso(row.offer.created_at)}
                       for row in intents.offers_for_customer(db, keys, intent)],
        })
    return out


def _notifications(db: Session, customer: Account) -> list[dict]:
    """Every notification item, newest first, as the customer read it (in their language)."""
    out = []
    for item in db.scalars(select(Notification).where(Notification.account_id == customer.id)
                           .order_by(Notification.id.desc())):
        known = item.event in NOTIFICATION_EVENTS
        message = render(item.event, item.params, item.locale or customer.locale) if known else None
        out.append({"id": item.public_id, "event": item.event, "created_at": _iso(item.created_at),
                    "read_at": _iso(item.read_at), "subject": message.subject if message else None,
                    "body": message.body if message else None, "params": item.params})
    return out


def _contacts(db: Session, customer_id: int) -> list[dict]:
    """The contacts vendors reported making (channel and time only: that is all they report)."""
    out = []
    for row in contact.contacts_for_customer(db, customer_id):
        app = db.get(VendorApp, row.app_id)  # the session's identity map: one look-up per app
        out.append({"vendor": app.name if app else None, "client_id": app.client_id if app else None,
                    "channel": row.channel, "at": _iso(row.at), "reported_at": _iso(row.recorded_at)})
    return out


def _lock(db: Session, customer_id: int) -> None:
    """Lock the customer's grants, unclosed cases and open intents, in that order, before anything
    appends to their ledger chain: every other writer takes the row it changes before the chain
    head (a vendor read its grant, a vendor reply its case, an offer its intent), so taking them
    all first means erasure cannot deadlock with any of them."""
    db.scalars(select(Grant.id).where(Grant.account_id == customer_id).order_by(Grant.id)
               .with_for_update()).all()
    db.scalars(select(cases.ServiceCase.id).where(cases.ServiceCase.account_id == customer_id,
                                                  cases.ServiceCase.status != "closed")
               .order_by(cases.ServiceCase.id).with_for_update()).all()
    db.scalars(select(Intent.id).where(Intent.account_id == customer_id, Intent.status == "open")
               .order_by(Intent.id).with_for_update()).all()


def erase_all(db: Session, ctx: ConsentContext, customer: Account, *, now: datetime | None = None) -> list[str]:
    """Withdraw every live consent, close what is still open, record the erasure, then crypto-shred
    and delete the account.

    Returns the client ids of the apps that held a live grant: each gets ``consent.revoked`` and
    ``account.erased`` events and is expected to delete what it holds and confirm it. Before the
    data key goes, everyone waiting on the customer is told: every bidder on an open intent hears
    ``intent.closed`` (reason ``withdrawn``), and the vendor of every case not yet closed hears
    ``case.updated`` (action ``account_erased``). The ledger keeps its pseudonymous entries: proof
    of what happened outlives the data.
    """
    now = now or utcnow()
    _lock(db, customer.id)
    told, live = [], []
    for grant in grants.list_for_customer(db, customer.id):
        if is_live(grant, now):
            grants.revoke(db, ctx, grant, customer, now=now)
            told.append(grant.app.client_id)
            live.append(grant)
    closed_cases = cases.close_for_erasure(db, customer, now=now)
    closed_intents = intents.close_for_erasure(db, customer, now=now)
    events.notify_erasure(db, live, now)
    ledger.append(db, type="erase", actor=customer.public_id, actor_role="customer",
                  chain=customer.public_id, now=now,
                  details={"apps_notified": len(told), "cases_closed": closed_cases,
                           "intents_closed": closed_intents})
    records.erase_vault(db, customer.id)
    accounts.delete_account(db, customer.id)
    return told
