"""Password hashing (argon2id) and the rules a new password must meet."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
#: Spent on unknown accounts so a login for a missing account takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")

# Passwords of 12+ characters that top every breach corpus; offline on purpose (no network).
_COMMON = frozenset("""
123456789012 1234567890123 12345678901234 123456789123 qwertyuiop12 qwertyuiop123
password1234 password12345 password123456 passwordpassword 1q2w3e4r5t6y 1qaz2wsx3edc
qwertyuiopas qwertyuiopasdf abcdefghijkl abcdefghijklm iloveyou1234 welcome12345
administrator letmein12345 changeme1234 111111111111 000000000000 123123123123
aaaaaaaaaaaa passw0rd1234 p@ssw0rd1234 qazwsxedcrfv zaq12wsxcde3 monkey123456
football1234 baseball1234 sunshine1234 princess1234 dragon123456 superman1234
trustno11234 masterkey123 q1w2e3r4t5y6 asdfghjkl123 mypassword12 mypassword123
""".split())


def password_problem(password: str, *, email: str = "") -> str | None:
    """Why ``password`` may not be used, in a sentence for the person; None if it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        return "This password is too common or too easy to guess; choose another."
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in lowered:
        return "Do not use your email address in your password."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown account still costs one argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
