"""Password hashing with argon2id: what a host types is never stored, only its hash."""

from __future__ import annotations

import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a login from being a CPU sink
# Each argon2 hash or check takes 64 MiB for its duration: at most this many at once in the
# process, whoever asks (sign-ins, password changes, new hosts), so a flood of sign-ins
# queues instead of taking a gigabyte. A station has a handful of hosts: one is plenty.
HASH_SLOTS = 1
_slots = threading.BoundedSemaphore(HASH_SLOTS)


class WeakPassword(ValueError):
    """The password does not meet the policy; the message says why."""


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password may have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("a password cannot be only spaces")


def hash_password(password: str) -> str:
    check_policy(password)
    with _slots:
        return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        with _slots:
            return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters than the ones we use now."""
    return _hasher().check_needs_rehash(password_hash)


@cache
def _decoy_hash() -> str:
    with _slots:
        return _hasher().hash("a decoy that no account has")


def waste_equal_time(password: str) -> None:
    """Verify against a decoy, so a login for an unknown name takes as long as a wrong
    password for a known one, and the timing does not tell which names exist."""
    verify_password(_decoy_hash(), password)
