import pytest

from vault import crypto
from vault.errors import DecryptionFailed


def test_a_value_round_trips_and_each_seal_uses_a_fresh_nonce():
    dek = crypto.generate_key()
    a = crypto.seal_field(dek, "7", "given_name", b"Amira")
    b = crypto.seal_field(dek, "7", "given_name", b"Amira")
    assert a != b and a[:12] != b[:12]
    assert crypto.open_field(dek, "7", "given_name", a) == b"Amira"


@pytest.mark.parametrize("customer, field, version", [("8", "given_name", 1), ("7", "family_name", 1),
                                                      ("7", "given_name", 2)])
def test_associated_data_binds_customer_field_and_version(customer, field, version):
    dek = crypto.generate_key()
    blob = crypto.seal_field(dek, "7", "given_name", b"Amira")
    with pytest.raises(DecryptionFailed):
        crypto.open_field(dek, customer, field, blob, version)


def test_a_wrapped_data_key_opens_only_with_its_kek_and_customer():
    kek, dek = crypto.generate_key(), crypto.generate_key()
    wrapped = crypto.wrap_dek(kek, "k1", "7", dek)
    assert crypto.unwrap_dek(kek, "k1", "7", wrapped) == dek
    for args in ((crypto.generate_key(), "k1", "7"), (kek, "k2", "7"), (kek, "k1", "8")):
        with pytest.raises(DecryptionFailed):
            crypto.unwrap_dek(*args, wrapped)


def test_truncated_and_flipped_ciphertexts_fail():
    dek = crypto.generate_key()
    blob = bytearray(crypto.seal_field(dek, "1", "notes", b"secret"))
    with pytest.raises(DecryptionFailed):
        crypto.open_field(dek, "1", "notes", bytes(blob[:20]))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        crypto.open_field(dek, "1", "notes", bytes(blob))
