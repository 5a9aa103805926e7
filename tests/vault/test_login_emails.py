"""Login addresses at rest: a keyed hash to find them, sealed bytes to read them (SECURITY.md 25)."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import inspect, select, text

from tests.conftest import STRONG_PASSWORD, make_test_app
from vault import accounts, crypto, keyops, login_emails, migrate
from vault.db import make_engine
from vault.errors import DecryptionFailed
from vault.keys.base import StaticKeyring
from vault.models import Account, SystemKey
from web import StartupError


def test_an_address_is_stored_only_as_its_keyed_hash_and_sealed_bytes(db):
    account = accounts.sign_up(db, "  Ada.Lovelace@Example.COM ", STRONG_PASSWORD)
    db.flush()
    columns = {c["name"] for c in inspect(db.connection()).get_columns("accounts")}
    assert "email" not in columns and {"email_lookup", "email_sealed"} <= columns
    lookup, sealed = db.execute(select(Account.email_lookup, Account.email_sealed)
                                .where(Account.id == account.id)).one()
    assert b"lovelace" not in bytes(sealed).lower()
    # Keyed: not the plain SHA-256 of the address, which anyone could compute from a guess.
    assert lookup != hashlib.sha256(b"ada.lovelace@example.com").hexdigest() and len(lookup) == 64
    db.expunge(account)
    found = accounts.find_by_email(db, "ADA.lovelace@example.com")
    assert found.id == account.id and found.email == "ada.lovelace@example.com"


def test_an_address_moved_onto_another_account_does_not_open(db):
    ada = accounts.sign_up(db, "ada@example.com", STRONG_PASSWORD)
    bob = accounts.sign_up(db, "bob@example.com", STRONG_PASSWORD)
    db.flush()
    db.execute(text("UPDATE accounts SET email_sealed = :sealed WHERE id = :id"),
               {"sealed": ada.email_sealed, "id": bob.id})
    db.expunge_all()
    with pytest.raises(DecryptionFailed):
        _ = db.get(Account, bob.id).email
    assert db.get(Account, ada.id).email == "ada@example.com"


def test_the_same_address_cannot_sign_up_twice_whatever_its_case(db):
    accounts.sign_up(db, "twice@example.com", STRONG_PASSWORD)
    with pytest.raises(accounts.ValidationFailed) as failure:
        accounts.sign_up(db, "TWICE@example.com ", STRONG_PASSWORD)
    assert "email" in failure.value.errors


def test_login_works_by_address_and_the_throttle_key_holds_no_address(app, client):
    from web.extensions import limiter
    from tests.conftest import csrf_from
    with app.extensions["vrm"].sessions() as db:
        accounts.sign_up(db, "throttled@example.com", STRONG_PASSWORD)
        db.commit()
    page = client.get("/login")
    answer = client.post("/login", data={"email": "Throttled@example.com", "password": STRONG_PASSWORD,
                                         "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert answer.status_code == 303
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").get_data(as_text=True))})
    page = client.get("/login")
    client.post("/login", data={"email": "throttled@example.com", "password": "wrong wrong wrong",
                                "csrf_token": csrf_from(page.get_data(as_text=True))})
    stored = repr(getattr(limiter.storage, "storage", {})) + repr(getattr(limiter.storage, "expirations", {}))
    assert "login-account:" in stored and "throttled@" not in stored.lower()


def test_rotation_rewraps_the_system_key_and_the_check_covers_it(db, keys):
    accounts.sign_up(db, "rotating@example.com", STRONG_PASSWORD)
    new_kek = keys.provider.rotate()
    assert keyops.rewrap_all(db, keys) >= 1
    assert db.get(SystemKey, login_emails.KEY_NAME).kek_id == new_kek
    result = keyops.check_data_keys(db, keys)
    assert result.ok and result.checked >= 1
    db.get(SystemKey, login_emails.KEY_NAME).wrapped = b"\0" * 60
    db.flush()
    failed = keyops.check_data_keys(db, keys)
    assert [label for label, _ in failed.failures] == ["system key login-emails"]
    assert accounts.find_by_email(db, "rotating@example.com") is not None  # the key in use is unchanged


def test_another_keyring_is_refused_even_before_any_customer_has_data(fresh_database, tmp_path):
    url = fresh_database.migrate().url
    first = make_test_app(url, tmp_path / "first").extensions["vrm"]
    with first.sessions() as db:
        assert keyops.has_wrapped_keys(db)  # the login-email key alone
    first.dispose()
    (tmp_path / "second").mkdir()
    (tmp_path / "second" / "keyring.json").write_text(StaticKeyring.generate().dumps())
    with pytest.raises(StartupError, match="does not have|not the key"):
        make_test_app(url, tmp_path / "second")


def _at_0013_with_plaintext_addresses(url: str, keyring: StaticKeyring) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine, "0013")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, public_id, email, password_hash, role, is_active, created_at, "
                          "password_changed_at) VALUES (7, 'c_old', 'old.timer@example.com', :pw, 'vendor', "
                          ":t, :now, :now)"),
                     {"pw": accounts.hash_password(STRONG_PASSWORD), "t": True, "now": "2026-01-01 00:00:00+00:00"})
        # Rows that hang off the account (ON DELETE CASCADE): rebuilding the accounts table on
        # SQLite must not take them with it.
        kek_id, kek = keyring.active_kek()
        conn.execute(text("INSERT INTO data_keys (account_id, kek_id, wrapped, created_at) VALUES (7, :kid, :w, :now)"),
                     {"kid": kek_id, "w": crypto.wrap_dek(kek, kek_id, "7", crypto.generate_key()),
                      "now": "2026-01-01 00:00:00+00:00"})
        conn.execute(text("INSERT INTO login_sessions (id, token_hash, account_id, created_at, last_seen_at, "
                          "user_agent) VALUES (1, :th, 7, :now, :now, '')"),
                     {"th": "cd" * 32, "now": "2026-01-01 00:00:00+00:00"})
        conn.execute(text("INSERT INTO vendor_orgs (id, name, website, contact_email, jurisdiction, created_at) "
                          "VALUES (3, 'Old Shop', 'https://old.example', 'privacy@old.example', 'GB', :now)"),
                     {"now": "2026-01-01 00:00:00+00:00"})
        conn.execute(text("INSERT INTO vendor_invites (id, org_id, email, role, token_hash, created_at, expires_at) "
                          "VALUES (5, 3, 'invitee@example.com', 'member', :th, :now, :now)"),
                     {"th": "ab" * 32, "now": "2026-01-01 00:00:00+00:00"})
    engine.dispose()


def test_upgrading_seals_the_addresses_already_stored(fresh_database, tmp_path):
    from vendor_api.console_models import VendorInvite
    keyring = StaticKeyring.generate()
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "keyring.json").write_text(keyring.dumps())
    _at_0013_with_plaintext_addresses(fresh_database.url, keyring)
    engine = make_engine(fresh_database.url)
    with pytest.raises(RuntimeError, match="needs the keyring"):
        migrate.upgrade(engine)  # without keys it refuses rather than half-converting
    assert migrate.pending(engine)
    engine.dispose()

    app = make_test_app(fresh_database.url, tmp_path / "instance", auto_migrate=True)
    inst = app.extensions["vrm"]
    with inst.sessions() as db:
        raw = repr(db.execute(text("SELECT * FROM accounts")).all() + db.execute(text("SELECT * FROM vendor_invites")).all())
        assert "old.timer" not in raw and "invitee@" not in raw
        account = accounts.authenticate(db, "Old.Timer@example.com", STRONG_PASSWORD)
        assert account.id == 7 and account.email == "old.timer@example.com"
        assert db.get(VendorInvite, 5).email == "invitee@example.com"
        # nothing that hangs off the account went with the old table (SQLite rebuilds it)
        assert db.scalar(text("SELECT count(*) FROM data_keys WHERE account_id = 7")) == 1
        assert db.scalar(text("SELECT count(*) FROM login_sessions WHERE account_id = 7")) == 1
        assert keyops.check_data_keys(db, inst.keys).ok
    migrate.downgrade(inst.engine, "0013", keys=inst.keys)  # and back: opened again, with the keys
    with inst.engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM accounts WHERE id = 7")).scalar_one() == "old.timer@example.com"
        assert conn.execute(text("SELECT email FROM vendor_invites WHERE id = 5")).scalar_one() == "invitee@example.com"
        assert conn.execute(text("SELECT count(*) FROM data_keys WHERE account_id = 7")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM login_sessions WHERE account_id = 7")).scalar_one() == 1
    inst.dispose()
