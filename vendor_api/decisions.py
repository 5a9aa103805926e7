"""Scopes most requested and most refused on the consent screen, for the officers' reports.

Refusals are only known here (``oauth_authorization_decisions``: what was asked, approved and
unticked); the ledger records what was shared. No customer is named in the result.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuthorizationDecision


@dataclass(frozen=True)
class ScopeTally:
    scope: str
    requested: int
    refused: int

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.requested if self.requested else 0.0


def scope_decisions(db: Session, start: datetime, end: datetime, *, batch: int = 1000) -> list[ScopeTally]:
    """Per scope, how often it was asked for and refused in [start, end); most requested first.

    A denied request counts every scope that was newly asked for as refused (that is what the
    decision row records); a scope already shared and asked again is not refused.
    """
    requested: Counter = Counter()
    refused: Counter = Counter()
    stmt = (select(AuthorizationDecision.requested_json, AuthorizationDecision.refused_json)
            .where(AuthorizationDecision.created_at >= start, AuthorizationDecision.created_at < end)
            .execution_options(yield_per=batch))
    for asked, said_no in db.execute(stmt):
        requested.update(set(json.loads(asked)))
        refused.update(set(json.loads(said_no)))
    scopes = set(requested) | set(refused)
    return sorted((ScopeTally(s, requested[s], refused[s]) for s in scopes),
                  key=lambda t: (-t.requested, -t.refused, t.scope))
