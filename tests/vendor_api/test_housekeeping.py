"""Housekeeping: codes, tokens and DPoP proof ids that can no longer authorize anything go;
anything still usable (or within a day's grace) stays."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import query_plan
from tests.vendor_api.conftest import direct_token
from vault.clock import utcnow
from vendor_api import housekeeping
from vendor_api.models import AuthorizationCode, DPoPProofSeen, Token


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_spent_codes_dead_tokens_and_old_proofs_go_live_ones_stay(app, db, flow, customer, other_vendor):
    now = utcnow()
    flow.login(customer.email)
    flow.tokens()  # a used code and a live access + refresh token
    direct_token(db, app, customer, other_vendor, ["profile.name"], now=now - timedelta(days=200))  # long dead
    db.add_all([DPoPProofSeen(jti_hash="a" * 64, expires_at=now - timedelta(minutes=5)),
                DPoPProofSeen(jti_hash="b" * 64, expires_at=now + timedelta(minutes=5))])
    db.commit()
    tokens_before = count(db, Token)

    assert housekeeping.purge(db, now) == {"codes_purged": 0, "tokens_purged": 1, "dpop_proofs_purged": 1}
    db.commit()
    assert count(db, Token) == tokens_before - 1 and count(db, AuthorizationCode) == 1
    assert db.get(DPoPProofSeen, "b" * 64) is not None

    later = housekeeping.purge(db, now + timedelta(days=2))  # the code's grace is over; the refresh token lives
    assert later["codes_purged"] == 1 and later["tokens_purged"] == 0


def test_the_round_runs_at_most_hourly(app, monkeypatch):
    sessions = app.extensions["vrm"].sessions
    monkeypatch.setattr(housekeeping, "_next_run", 0.0)
    assert "tokens_purged" in housekeeping.purge_round(sessions)
    assert housekeeping.purge_round(sessions) == {}
    assert "tokens_purged" in housekeeping.purge_round(sessions, force=True)


def test_dead_tokens_are_found_through_an_index_not_a_scan(db):
    """The purge's look-up can use ix_oauth_tokens_usable_until on both databases."""
    query = select(Token.id).where(housekeeping.dead_tokens(utcnow())).limit(housekeeping.BATCH)
    plan = query_plan(db, query)
    assert "ix_oauth_tokens_usable_until" in plan, plan
