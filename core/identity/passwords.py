"""Passwords: argon2 hashes, a length minimum and a list of common passwords.

Hashes use argon2id with argon2-cffi's current parameters; a hash made with
older parameters is replaced at the next successful sign-in
(:func:`needs_rehash`). The common-password list is zxcvbn's 30,000 most
frequent passwords.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps hashing cheap and bounded
_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, email: str | None = None) -> None:
    """Refuse a password that is too short, too long, common, or the e-mail address."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed("A password needs at least {min} characters.", min=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        raise ValidationFailed("A password has at most {max} characters.", max=MAX_LENGTH)
    lowered = password.lower()
    if lowered in _common() or (email and lowered in (email.lower(), email.split("@")[0].lower())):
        raise ValidationFailed("This password is too easy to guess; choose another.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; False for a missing or malformed hash, never an error."""
    if not password_hash or len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
