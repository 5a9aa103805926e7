"""What a customer's overview shows of their connections; shared by the dashboard and connections pages."""
from __future__ import annotations

from flask_babel import get_locale

from consent import deletions, grants, policy
from consent.scopes import PSEUDO_FIELDS, SCOPES
from vault.clock import utcnow
from vendor_api.context import get_db


def lang() -> str:
    """The language for catalogue texts (scope labels, receipts), which carry their own translations."""
    return "ar" if str(get_locale()) == "ar" else "en"


def connection_rows(account_id: int, *, live_only: bool = False) -> list[dict]:
    """What the connections table shows per grant; liveness is judged now, not by stored status."""
    now = utcnow()
    rows = []
    for grant in grants.list_for_customer(get_db(), account_id):
        live = grants.in_force(grant, now)
        if live_only and not live:
            continue
        rows.append({"grant": grant, "live": live,
                     "fields": sorted(policy.shared_fields(grant) - PSEUDO_FIELDS),
                     "scopes": [SCOPES[s] for s in grant.scopes if s in SCOPES],
                     "deletion": None if live else deletions.confirmation_for_grant(get_db(), grant, now)})
    return rows
