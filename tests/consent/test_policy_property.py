"""Property: whatever sequence of consent changes and clock moves, a vendor gets at most what the
customer has granted at that instant, and nothing at all after revocation or expiry."""
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from consent import grants, policy
from consent.errors import ConsentError
from consent.scopes import PSEUDO_FIELDS, SCOPES
from tests.consent.conftest import ALL_READ_SCOPES
from vault.clock import utcnow

START = utcnow().replace(microsecond=0)
scope_sets = st.lists(st.sampled_from(ALL_READ_SCOPES), min_size=1, max_size=5, unique=True)
operations = st.lists(st.one_of(
    st.tuples(st.just("grant"), scope_sets, st.sampled_from([30, 90, 365, None])),
    st.tuples(st.just("narrow_scopes"), st.integers(0, 4)),
    st.tuples(st.just("narrow_fields"), st.integers(0, 20)),
    st.tuples(st.just("revoke")),
    st.tuples(st.just("renew"), st.sampled_from([30, 90, None])),
    st.tuples(st.just("tick"), st.integers(0, 400 * 24)),  # hours
    st.tuples(st.just("expire_sweep")),
), min_size=1, max_size=12)


def _expected(model, now):
    """An independent model of the rules: status, expiry, scopes and narrowing."""
    if model is None or model["status"] != "active":
        return set()
    if model["expires"] is not None and now >= model["expires"]:
        return set()
    fields = {f for s in model["scopes"] for f in SCOPES[s].fields if SCOPES[s].access == "read"}
    if model["fields"] is not None:
        fields = {f for f in fields if f in model["fields"] or f in PSEUDO_FIELDS}
    return fields


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_vendor_sees_a_subset_of_what_is_granted_now(db, ctx, customer, vendor_app, ops):
    savepoint = db.begin_nested()
    try:
        now, model, grant = START, None, None
        for op in ops:
            kind = op[0]
            try:
                if kind == "grant":
                    live = model is not None and model["status"] == "active" and \
                        (model["expires"] is None or now < model["expires"])
                    grant = grants.grant(db, ctx, customer=customer, app=vendor_app, scopes=op[1],
                                         term_days=op[2], now=now).grant
                    if live:
                        model["scopes"] |= set(op[1])
                        if model["fields"] is not None:
                            model["fields"] |= {f for s in op[1] for f in SCOPES[s].fields}
                    else:
                        model = {"scopes": set(op[1]), "fields": None, "status": "active"}
                    model["status"] = "active"
                    model["expires"] = None if op[2] is None else now + timedelta(days=op[2])
                elif kind == "narrow_scopes" and grant is not None:
                    keep = sorted(grant.scopes)[: op[1]]
                    grants.narrow(db, ctx, grant, customer, scopes=keep, now=now)
                    if keep:
                        model["scopes"] = set(keep)
                    else:
                        model["status"] = "revoked"
                elif kind == "narrow_fields" and grant is not None:
                    current = sorted(policy.permitted_fields(grant, now=now) - PSEUDO_FIELDS)
                    keep = current[: op[1]] if current else []
                    if keep:
                        grants.narrow(db, ctx, grant, customer, fields=keep, now=now)
                        model["fields"] = set(keep)
                elif kind == "revoke" and grant is not None:
                    grants.revoke(db, ctx, grant, customer, now=now)
                    model["status"] = "revoked"
                elif kind == "renew" and grant is not None:
                    grants.renew(db, ctx, grant, customer, term_days=op[1], now=now)
                    model["status"] = "active"
                    model["expires"] = None if op[1] is None else now + timedelta(days=op[1])
                elif kind == "tick":
                    now += timedelta(hours=op[1])
                elif kind == "expire_sweep":
                    grants.expire_due(db, ctx, now=now)
                    if model and model["status"] == "active" and model["expires"] and now >= model["expires"]:
                        model["status"] = "expired"
            except ConsentError:
                pass  # a refused change must leave the state as it was: the checks below prove it
            got = policy.permitted_fields(grant, now=now) if grant is not None else frozenset()
            granted_now = {f for s in (grant.scopes if grant else []) for f in SCOPES[s].fields}
            assert got <= granted_now
            assert got == _expected(model, now), (op, got)
            if grant is not None and (grant.status != "active" or
                                      (grant.expires_at is not None and now >= grant.expires_at)):
                assert got == frozenset()
    finally:
        savepoint.rollback()
