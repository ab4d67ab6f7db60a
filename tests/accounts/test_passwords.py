"""Passwords are stored as argon2id hashes and checked against them."""

from __future__ import annotations

import pytest

from app.accounts.passwords import WeakPassword, hash_password, needs_rehash, verify_password


def test_a_password_is_stored_as_an_argon2id_hash_that_verifies() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse battery")
    assert not needs_rehash(stored)


def test_a_wrong_password_does_not_verify() -> None:
    stored = hash_password("correct horse battery")
    assert not verify_password(stored, "correct horse batterx")
    assert not verify_password(stored, "")
    assert not verify_password("not a hash at all", "correct horse battery")


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("correct horse battery") != hash_password("correct horse battery")


@pytest.mark.parametrize("weak", ["", "short", "nine char", " " * 12, "x" * 1025])
def test_weak_passwords_are_refused_with_a_reason(weak: str) -> None:
    with pytest.raises(WeakPassword, match="password"):
        hash_password(weak)
