"""What the hot path's shortcuts must not change: limits and their headers, no cookie session on
the API, and the read endpoints' entry committed on its own (bench/RESULTS.md says why)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from consent.ledger import LedgerEntry
from tests.conftest import STRONG_PASSWORD, demo_customer, make_test_app

from .conftest import PROFILE, direct_token, recorded_statements


@pytest.fixture
def token(db, app, filled_customer, vendor) -> str:
    return direct_token(db, app, filled_customer, vendor, ["profile.name"])


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_api_answers_carry_one_set_of_rate_limit_headers_counting_down(client, app, token):
    app.config["VENDOR_API_RATELIMIT"] = "5 per minute"
    first, second = _me(client, token), _me(client, token)
    assert first.status_code == second.status_code == 200
    for response in (first, second):  # ours only: Flask-Limiter leaves the API alone
        assert len(response.headers.getlist("X-RateLimit-Limit")) == 1
        assert response.headers["X-RateLimit-Limit"] == "5"
    assert int(first.headers["X-RateLimit-Remaining"]) == int(second.headers["X-RateLimit-Remaining"]) + 1
    assert int(first.headers["X-RateLimit-Reset"]) > 0


def test_every_limit_of_a_setting_counts(client, app, token):
    app.config["VENDOR_API_RATELIMIT"] = "2 per second;100 per minute"
    assert [_me(client, token).status_code for _ in range(3)][-1] == 429


def test_guessing_tokens_is_limited_per_address(client, app):
    app.config["VENDOR_API_RATELIMIT"] = "2 per minute"
    statuses = [_me(client, "vv_at_guess" + str(i)).status_code for i in range(3)]
    assert statuses == [401, 401, 429]


def test_the_api_opens_no_cookie_session_while_the_portal_does(client, token):
    assert "Set-Cookie" not in _me(client, token).headers
    client.set_cookie("vv_session", "tampered-or-stale")
    assert "Set-Cookie" not in _me(client, token).headers  # not even read, so never rewritten
    assert "vv_session=" in client.get("/login").headers.get("Set-Cookie", "")


def test_a_vendor_read_is_one_look_up_and_one_append_on_postgresql(client, app, token, db):
    """Token, grant and ciphertexts come in one statement (protector.reads_vault), the entry in
    another; SQLite, in-process, reads the records by themselves and appends in three steps."""
    assert _me(client, token).status_code == 200  # the first read also notes the grant's last access
    with recorded_statements(app) as seen:
        body = _me(client, token).get_json()
    assert body["given_name"] == PROFILE["given_name"] and "birth_date" not in body
    work = [s for s in seen if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]
    if db.get_bind().dialect.name == "postgresql":
        assert len(work) == 2, work
        assert "oauth_tokens" in work[0] and "vault_records" in work[0] and "vv_ledger_append" in work[1]
    else:
        assert len(work) == 5, work
        assert "vault_records" in work[1] and "vault_records" not in work[0]


def test_a_customer_with_an_empty_vault_reads_as_just_sub(client, db, app, customer, vendor):
    token = direct_token(db, app, customer, vendor, ["profile.name"])
    response = _me(client, token)
    assert response.status_code == 200 and list(response.get_json()) == ["sub"]


def test_the_three_customer_reads_are_marked_to_commit_their_entry_first(app):
    marked = sorted(name for name, view in app.view_functions.items() if getattr(view, "vv_statement_wise", False))
    assert marked == ["vendor_api_v1.me", "vendor_api_v1.me_consent", "vendor_api_v1.me_terms"]


def test_a_read_whose_answer_then_fails_is_still_in_the_log(fresh_database, tmp_path, monkeypatch):
    """The entry is committed before the response is built (never the other way round: no answer
    leaves without its entry). On PostgreSQL it commits by itself, on SQLite right after the view."""
    app = make_test_app(fresh_database.url, tmp_path / "instance", auto_migrate=True)
    inst = app.extensions["vrm"]
    demo = demo_customer(app, "hot@example.com")
    token, chain = demo["access_token"], demo["chain"]

    def entries() -> int:
        with inst.sessions() as db:
            return db.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.chain == chain,
                                                                                  LedgerEntry.type == "read"))

    client = app.test_client()
    assert _me(client, token).status_code == 200 and entries() == 1

    answer, failed = app.json.response, []

    def fails_once(*args, **kwargs):  # serialising the answer breaks; the problem answer still works
        if not failed:
            failed.append(True)
            raise RuntimeError("serialising failed")
        return answer(*args, **kwargs)
    monkeypatch.setattr(app.json, "response", fails_once)
    assert _me(client, token).status_code == 500
    assert entries() == 2
    inst.dispose()


@pytest.fixture
def committing_app(fresh_database, tmp_path):
    """An app over a database of its own, so that its read endpoints use their own sessions
    (``Instance.statement_session``) instead of the suite's one rolled-back transaction."""
    app = make_test_app(fresh_database.url, tmp_path / "instance", auto_migrate=True)
    yield app
    app.extensions["vrm"].dispose()


def test_the_read_endpoints_answer_and_log_through_their_own_sessions(committing_app):
    from consent import grants
    from consent.models import Grant
    from vault import accounts
    from vendor_api.cli import demo_step
    from vendor_api.context import consent_context

    app, inst = committing_app, committing_app.extensions["vrm"]
    with app.test_request_context(), inst.sessions() as db:
        customer = accounts.sign_up(db, "statement@example.com", STRONG_PASSWORD)
        token = demo_step(db, inst, customer)["access_token"]
        db.commit()
        chain, customer_id = customer.public_id, customer.id
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    def reads() -> list[str]:
        with inst.sessions() as db:
            return [e.data["details"]["endpoint"] for e in db.scalars(
                select(LedgerEntry).where(LedgerEntry.chain == chain, LedgerEntry.type == "read")
                .order_by(LedgerEntry.seq))]

    me = client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200 and me.get_json()["sub"].startswith("sub_")
    assert client.get("/api/v1/me/consent", headers=auth).get_json()["status"] == "active"
    assert client.get("/api/v1/me/terms", headers=auth).status_code == 200
    assert reads() == ["me", "consent", "terms"]
    with inst.sessions() as db:  # the first read noted the grant's last access
        assert db.scalar(select(Grant.last_access_at).where(Grant.account_id == customer_id)) is not None

    with app.test_request_context(), inst.sessions() as db:
        grant = db.scalar(select(Grant).where(Grant.account_id == customer_id))
        grants.revoke(db, consent_context(), grant, db.get(accounts.Account, customer_id))
        db.commit()
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert reads() == ["me", "consent", "terms"]  # a refused call reads nothing and logs no read


def test_a_statement_session_keeps_what_it_commits(committing_app):
    """The DPoP replay cache (the other write a read endpoint can make) through the same kind of
    session: a committed proof stays spent; on SQLite an uncommitted one is undone at close, on
    PostgreSQL each statement has committed by itself already."""
    from vault.clock import utcnow
    from vault.db import StatementSession
    from vendor_api import dpop

    inst, now = committing_app.extensions["vrm"], utcnow()
    first, second = dpop.Proof("k" * 43, "jti-kept", now), dpop.Proof("k" * 43, "jti-dropped", now)
    db = inst.statement_session()
    assert isinstance(db, StatementSession)
    assert dpop.remember(db, first, now=now) is True
    assert dpop.remember(db, first, now=now) is False
    db.commit()
    assert dpop.remember(db, second, now=now) is True
    db.close()
    db = inst.statement_session()
    try:
        assert dpop.remember(db, first, now=now) is False
        assert dpop.remember(db, second, now=now) is (inst.engine.dialect.name == "sqlite")
    finally:
        db.close()


def _structure(schema) -> dict:
    """{field: nested structure or None} of a marshmallow schema, by the names it reads/writes."""
    from marshmallow import fields as mf
    out = {}
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, mf.List) else field
        out[field.data_key or name] = _structure(inner.schema) if isinstance(inner, mf.Nested) else None
    return out


def test_me_bodies_are_what_the_schema_would_dump():
    """/me answers its values without MeSchema's dump (resources._already_in_shape): that is only
    right while every value the vault accepts comes out of the dump unchanged."""
    from tests.vault.test_schemas import VALUES
    from vault.schemas import VAULT_FIELDS, VaultValuesSchema, validate_values
    from vendor_api.schemas import MeSchema

    stored, errors = validate_values({**VALUES, "sizes": {"clothing": "M", "shoe": {"system": "EU", "value": 39}}})
    assert not errors
    body = {"sub": "sub_x", **{k: v for k, v in stored.items() if k in VAULT_FIELDS and v is not None and k != "notes"}}
    assert MeSchema().dump(body) == body
    # ...and nothing the vault can hold is missing from the answer's schema, at any depth.
    readable = {k: v for k, v in _structure(VaultValuesSchema()).items() if k != "notes"}
    assert readable == {k: v for k, v in _structure(MeSchema()).items() if k != "sub"}
