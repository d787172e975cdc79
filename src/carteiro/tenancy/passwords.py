"""Password hashing for people (argon2id) and the rules a new password must meet."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from carteiro.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password needs at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password has more than {MAX_LENGTH} characters", field="password")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher().hash(password)


def verify(password: str, hashed: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    return _hasher().verify(password, hashed)


# Verified against when no user matches, so a wrong e-mail costs as long as a wrong password.
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return _hasher().hash("not a real password, only for timing")
