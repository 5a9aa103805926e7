"""Everything a customer has, to take away (export) or to have destroyed (erase)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from vault import accounts, records
from vault.clock import utcnow
from vault.keys.service import KeyService
from vault.models import Account

from . import events, grants, issuing, ledger
from .context import ConsentContext
from .policy import is_live


def export_all(db: Session, keys: KeyService, customer: Account, *, now: datetime | None = None) -> dict:
    """The customer's vault values, grants, receipts and ledger, as one JSON-ready document.

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
        "ledger": history,
    }


def erase_all(db: Session, ctx: ConsentContext, customer: Account, *, now: datetime | None = None) -> list[str]:
    """Withdraw every live consent, record the erasure, then crypto-shred and delete the account.

    Returns the client ids of the apps that held a live grant: each gets ``consent.revoked`` and
    ``account.erased`` events and is expected to delete what it holds and confirm it. The ledger
    keeps its pseudonymous entries: proof of what happened outlives the data.
    """
    now = now or utcnow()
    told, live = [], []
    for grant in grants.list_for_customer(db, customer.id):
        if is_live(grant, now):
            grants.revoke(db, ctx, grant, customer, now=now)
            told.append(grant.app.client_id)
            live.append(grant)
    events.notify_erasure(db, live, now)
    ledger.append(db, type="erase", actor=customer.public_id, actor_role="customer",
                  chain=customer.public_id, now=now, details={"apps_notified": len(told)})
    records.erase_vault(db, customer.id)
    accounts.delete_account(db, customer.id)
    return told
