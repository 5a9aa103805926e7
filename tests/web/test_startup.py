"""A configuration that cannot work stops start-up with one sentence, never a fresh key over data."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import STRONG_PASSWORD, make_test_app
from vault import records
from vault.accounts import sign_up
from web import StartupError

ROOT = Path(__file__).resolve().parents[2]


def _app_with_data(database, instance):
    app = make_test_app(database.url, instance, auto_migrate=True)
    inst = app.extensions["vrm"]
    with inst.sessions() as db:
        account = sign_up(db, "keys@example.com", STRONG_PASSWORD)
        records.write_fields(db, inst.keys, account, {"given_name": "Keyed"})
        db.commit()
    inst.dispose()
    return app


def test_first_run_creates_folder_database_secret_and_private_keyring(fresh_database, tmp_path):
    instance = tmp_path / "fresh-instance"
    app = make_test_app(fresh_database.url, instance, auto_migrate=True)
    for name in ("keyring.json", "secret_key", "signing-keys.json"):
        mode = stat.S_IMODE((instance / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert app.secret_key and len(app.secret_key) >= 32
    assert app.test_client().get("/readyz").get_json()["status"] == "ok"
    app.extensions["vrm"].dispose()


def test_missing_keyring_in_front_of_data_is_refused_not_recreated(fresh_database, tmp_path):
    instance = tmp_path / "inst"
    _app_with_data(fresh_database, instance)
    (instance / "keyring.json").unlink()
    with pytest.raises(StartupError) as caught:
        make_test_app(fresh_database.url, instance)
    assert "keyring" in caught.value.sentence and "missing" in caught.value.sentence
    assert not (instance / "keyring.json").exists()


def test_wrong_keyring_is_a_clear_error(fresh_database, tmp_path):
    instance = tmp_path / "inst"
    _app_with_data(fresh_database, instance)
    ring = json.loads((instance / "keyring.json").read_text())
    other = make_test_app(f"sqlite:///{tmp_path / 'other.sqlite3'}", tmp_path / "other", auto_migrate=True)
    other.extensions["vrm"].dispose()
    (instance / "keyring.json").write_text((tmp_path / "other" / "keyring.json").read_text())
    with pytest.raises(StartupError) as caught:
        make_test_app(fresh_database.url, instance)
    assert ring["active"] in caught.value.sentence  # names the key the data needs


def test_same_key_id_with_different_bytes_is_detected(fresh_database, tmp_path):
    instance = tmp_path / "inst"
    _app_with_data(fresh_database, instance)
    ring = json.loads((instance / "keyring.json").read_text())
    ring["keys"][ring["active"]] = "A" * 43 + "="
    (instance / "keyring.json").write_text(json.dumps(ring))
    with pytest.raises(StartupError) as caught:
        make_test_app(fresh_database.url, instance)
    assert "not the key this data was encrypted with" in caught.value.sentence


def test_damaged_keyring_file(tmp_path):
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "keyring.json").write_text("{not json")
    with pytest.raises(StartupError) as caught:
        make_test_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", instance, auto_migrate=True)
    assert "not a valid VRM Vault keyring" in caught.value.sentence


def test_unreachable_database(tmp_path):
    with pytest.raises(StartupError) as caught:
        make_test_app("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path / "inst")
    assert caught.value.sentence.startswith("Cannot use the database at postgresql+psycopg://nobody@127.0.0.1:1/none")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_instance_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(StartupError) as caught:
        make_test_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", locked / "inst")
    assert "cannot be created or written" in caught.value.sentence


def test_instance_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file")
    with pytest.raises(StartupError) as caught:
        make_test_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", blocker / "inst")
    assert "cannot be created or written" in caught.value.sentence


def test_env_key_provider_without_keyring():
    from vault.config import Settings
    from vault.errors import ConfigError
    with pytest.raises(ConfigError, match="VAULT_KEYRING is empty"):
        Settings.load(environ={"VAULT_KEY_PROVIDER": "env"})


def test_production_requires_secret_and_database():
    from vault.config import Settings
    from vault.errors import ConfigError
    with pytest.raises(ConfigError, match="VAULT_SECRET_KEY"):
        Settings.load(environ={"VAULT_ENV": "production"})


def test_env_key_provider_reads_the_keyring_from_the_environment(fresh_database, tmp_path):
    from vault.keys.base import StaticKeyring
    ring = StaticKeyring.generate()
    app = make_test_app(fresh_database.url, tmp_path / "inst", auto_migrate=True,
                        key_provider="env", keyring=ring.dumps())
    assert app.extensions["vrm"].keys.active_kek_id == ring.active_kek()[0]
    assert not (tmp_path / "inst" / "keyring.json").exists()
    app.extensions["vrm"].dispose()


def test_cli_prints_one_sentence_and_no_traceback(tmp_path):
    env = {**os.environ, "VAULT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "VAULT_INSTANCE_PATH": str(tmp_path / "inst")}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "vault", "keys", "check"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "VRM Vault cannot start: Cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("hops, issuer", [(0, "http://localhost"), (1, "https://vault.example")])
def test_forwarded_headers_are_trusted_only_behind_a_configured_proxy(database_url, instance_path, hops, issuer):
    app = make_test_app(database_url, instance_path, proxy_hops=hops)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "vault.example", "X-Forwarded-For": "203.0.113.9"}
    metadata = app.test_client().get("/.well-known/oauth-authorization-server", headers=forwarded).get_json()
    assert metadata["issuer"] == issuer
    app.extensions["vrm"].dispose()


def test_proxy_hops_out_of_range():
    with pytest.raises(StartupError, match="VAULT_PROXY_HOPS"):
        make_test_app("sqlite://", Path("/tmp/unused"), proxy_hops=9)


def test_the_default_sqlite_database_is_private_too(tmp_path):
    from web import create_app
    instance = tmp_path / "embedded"
    app = create_app({"instance_path": instance, "log_level": "WARNING"})
    app.test_client().get("/readyz")
    files = [p for p in instance.iterdir() if p.name.startswith("vault.sqlite3")]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), \
        [(p.name, oct(stat.S_IMODE(p.stat().st_mode))) for p in files]
    app.extensions["vrm"].dispose()
