"""What the hot path's shortcuts must not change: limits and their headers, no cookie session on
the API, and the read endpoints' entry committed on its own (bench/RESULTS.md says why)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from consent.ledger import LedgerEntry
from tests.conftest import STRONG_PASSWORD, make_test_app

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
    from vault import accounts
    from vendor_api import schemas
    from vendor_api.cli import demo_step

    app = make_test_app(fresh_database.url, tmp_path / "instance", auto_migrate=True)
    inst = app.extensions["vrm"]
    with app.app_context(), inst.sessions() as db:
        customer = accounts.sign_up(db, "hot@example.com", STRONG_PASSWORD)
        token = demo_step(db, inst, customer)["access_token"]
        db.commit()
        chain = customer.public_id

    def entries() -> int:
        with inst.sessions() as db:
            return db.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.chain == chain,
                                                                                  LedgerEntry.type == "read"))

    client = app.test_client()
    assert _me(client, token).status_code == 200 and entries() == 1

    def broken_dump(self, *args, **kwargs):
        raise RuntimeError("serialising failed")
    monkeypatch.setattr(schemas.MeSchema, "dump", broken_dump)
    assert _me(client, token).status_code == 500
    assert entries() == 2
    inst.dispose()
