"""Signing keyring: file safety (0600, atomic, never clobbered), kids, rotation, sign/verify."""
import json
import os
import stat
import threading

import pytest
from joserfc.jwk import OKPKey

from vault.errors import ConfigError
from vault.keys.signing import SigningKeyring, b64url_decode


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_file_0600_and_reload_gives_same_kid(tmp_path):
    path = tmp_path / "instance" / "signing.json"
    ring = SigningKeyring.load_or_create(path)
    assert path.is_file()
    assert mode(path) == 0o600
    again = SigningKeyring.load_or_create(path)
    assert again.active.kid == ring.active.kid
    assert again.kids() == ring.kids() == [ring.active.kid]
    assert sorted(os.listdir(path.parent)) == ["signing.json"]  # no temp files left behind


def test_file_holds_base64url_private_key_with_its_kid(tmp_path):
    path = tmp_path / "signing.json"
    ring = SigningKeyring.load_or_create(path)
    data = json.loads(path.read_text())
    assert data["active"]["kid"] == ring.active.kid
    assert b64url_decode(data["active"]["d"]) == ring.active.seed()
    assert len(ring.active.seed()) == 32


def test_kid_is_rfc7638_thumbprint(tmp_path):
    ring = SigningKeyring.load_or_create(tmp_path / "k.json")
    jwk = ring.active.public_jwk()
    assert OKPKey.import_key(jwk).thumbprint() == ring.active.kid


def test_existing_file_is_loaded_not_rewritten(tmp_path):
    path = tmp_path / "k.json"
    SigningKeyring.load_or_create(path)
    before = path.read_bytes()
    os.utime(path, (1_000_000, 1_000_000))
    SigningKeyring.load_or_create(path)
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime == 1_000_000


@pytest.mark.parametrize("content", [
    b"{not json",
    b"",
    b'{"format": "something-else"}',
    b'{"format": "vrm-vault-signing-keyring/1", "active": {"kid": "x", "d": "AAAA"}}',
    b"\xff\xfe\x00garbage",
])
def test_corrupt_file_raises_config_error_and_is_never_overwritten(tmp_path, content):
    path = tmp_path / "k.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        SigningKeyring.load_or_create(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == content


def test_key_not_matching_its_kid_is_rejected(tmp_path):
    path = tmp_path / "k.json"
    SigningKeyring.load_or_create(path)
    data = json.loads(path.read_text())
    data["active"]["kid"] = SigningKeyring.generate().active.kid
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError):
        SigningKeyring.load_or_create(path)


def test_unreadable_path_raises_config_error(tmp_path):
    path = tmp_path / "k.json"
    path.mkdir()  # a directory where the file should be: exists, but cannot be read as a file
    with pytest.raises(ConfigError) as err:
        SigningKeyring.load_or_create(path)
    assert str(path) in str(err.value)
    assert path.is_dir()


def test_concurrent_first_start_agrees_on_one_key(tmp_path):
    path = tmp_path / "k.json"
    barrier = threading.Barrier(8)
    kids = []

    def start():
        barrier.wait()
        kids.append(SigningKeyring.load_or_create(path).active.kid)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(kids)) == 1
    assert SigningKeyring.load_or_create(path).active.kid == kids[0]


def test_sign_and_verify():
    ring = SigningKeyring.generate()
    kid, sig = ring.sign(b"checkpoint 42")
    assert kid == ring.active.kid
    assert ring.verify(kid, b"checkpoint 42", sig)
    assert not ring.verify(kid, b"checkpoint 43", sig)
    assert not ring.verify(kid, b"checkpoint 42", bytes(64))
    assert not ring.verify("no-such-kid", b"checkpoint 42", sig)
    other = SigningKeyring.generate()
    _, other_sig = other.sign(b"checkpoint 42")
    assert not ring.verify(kid, b"checkpoint 42", other_sig)


def test_public_jwks_contains_only_public_okp_keys():
    ring = SigningKeyring.generate()
    ring.rotate()
    jwks = ring.public_jwks()
    assert len(jwks["keys"]) == 2
    for jwk in jwks["keys"]:
        assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
        assert jwk["alg"] == "Ed25519" and jwk["use"] == "sig"
        assert "d" not in jwk
        assert OKPKey.import_key(jwk).thumbprint() == jwk["kid"]
    assert jwks["keys"][0]["kid"] == ring.active.kid


def test_rotate_persists_and_old_signatures_still_verify(tmp_path):
    path = tmp_path / "k.json"
    ring = SigningKeyring.load_or_create(path)
    old_kid, old_sig = ring.sign(b"old receipt")
    old_seed = ring.active.seed()
    new = ring.rotate()
    assert new.kid != old_kid and ring.active.kid == new.kid
    assert ring.sign(b"x")[0] == new.kid
    assert ring.verify(old_kid, b"old receipt", old_sig)
    assert mode(path) == 0o600
    reloaded = SigningKeyring.load_or_create(path)
    assert reloaded.active.kid == new.kid
    assert set(reloaded.kids()) == {old_kid, new.kid}
    assert reloaded.verify(old_kid, b"old receipt", old_sig)
    # the retired private key is gone from disk: only its public half is kept
    assert b64url_decode(json.loads(path.read_text())["active"]["d"]) != old_seed
    assert old_seed.hex() not in path.read_bytes().hex()
    assert sorted(os.listdir(tmp_path)) == ["k.json"]


def test_from_env_roundtrip_and_rejects_garbage():
    ring = SigningKeyring.generate()
    ring.rotate()
    copy = SigningKeyring.from_env(ring.to_env())
    assert copy.kids() == ring.kids()
    kid, sig = ring.sign(b"data")
    assert copy.verify(kid, b"data", sig)
    assert copy.path is None
    for bad in ("", "!!!", "bm90IGpzb24"):  # last one is base64url("not json")
        with pytest.raises(ConfigError):
            SigningKeyring.from_env(bad)


def test_repr_does_not_leak_private_key():
    ring = SigningKeyring.generate()
    assert ring.active.seed().hex() not in repr(ring.active)
