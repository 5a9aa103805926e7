"""Operator commands: demo, officers, key rotation and checks."""
import json

from sqlalchemy import select

from vault import records
from vault.accounts import authenticate, find_by_email
from vault.models import DataKey


def test_demo_creates_customer_and_officer_and_prints_json(app, db, keys):
    result = app.test_cli_runner().invoke(args=["vault", "demo", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    customer = authenticate(db, out["customer_email"], out["customer_password"])
    officer = authenticate(db, out["officer_email"], out["officer_password"])
    assert (customer.role, officer.role) == ("customer", "officer")
    assert records.read_fields(db, keys, customer.id)["given_name"] == "Amira"
    # Running it again reuses the accounts, with fresh passwords.
    again = json.loads(app.test_cli_runner().invoke(args=["vault", "demo", "--json"]).output)
    assert again["customer_email"] == out["customer_email"]
    db.expire_all()
    assert authenticate(db, again["customer_email"], again["customer_password"]).id == customer.id


def test_demo_prose_says_how_to_log_in(app):
    result = app.test_cli_runner().invoke(args=["vault", "demo"])
    assert result.exit_code == 0 and "/login" in result.output and "demo.customer@example.com" in result.output


def test_officer_create(app, db):
    result = app.test_cli_runner().invoke(args=["vault", "officer", "create", "po@example.com",
                                                "--password", "a long officer passphrase"])
    assert result.exit_code == 0, result.output
    assert find_by_email(db, "po@example.com").role == "officer"
    bad = app.test_cli_runner().invoke(args=["vault", "officer", "create", "po2@example.com", "--password", "short"])
    assert bad.exit_code == 1 and "at least 12 characters" in bad.output


def test_keys_rotate_then_check(app, db, keys):
    app.test_cli_runner().invoke(args=["vault", "demo"])
    customer = find_by_email(db, "demo.customer@example.com")
    before = db.get(DataKey, customer.id).kek_id
    result = app.test_cli_runner().invoke(args=["vault", "keys", "rotate"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    after = db.get(DataKey, customer.id).kek_id
    assert after != before and after == keys.active_kek_id
    assert records.read_fields(db, keys, customer.id)["family_name"] == "Haddad"
    check = app.test_cli_runner().invoke(args=["vault", "keys", "check"])
    assert check.exit_code == 0 and "unwrap" in check.output


def test_keys_check_names_a_broken_data_key(app, db):
    app.test_cli_runner().invoke(args=["vault", "demo"])
    row = db.scalars(select(DataKey)).first()
    row.wrapped = row.wrapped[:-1] + bytes([row.wrapped[-1] ^ 1])
    db.commit()
    result = app.test_cli_runner().invoke(args=["vault", "keys", "check"])
    assert result.exit_code == 1 and f"customer {row.account_id}" in result.output
