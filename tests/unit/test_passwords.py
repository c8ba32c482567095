"""Passwords are hashed with argon2id at OWASP-recommended cost, and the policy is length-only."""

from __future__ import annotations

import pytest

from chatgate.errors import WeakPassword
from chatgate.security import passwords


def test_production_hasher_is_argon2id_with_64_mib() -> None:
    # The suite swaps in a cheap hasher; the saved production one is what ships.
    from pwdlib import PasswordHash

    stored = PasswordHash.recommended().hash("a long enough password")
    assert stored.startswith("$argon2id$") and "m=65536" in stored


def test_unknown_users_are_verified_against_a_hash_of_the_production_cost() -> None:
    # Kept as a constant so a start does not spend ~0.2 s hashing it; it must still cost what
    # a real user's hash costs, or a missing user would answer faster than a wrong password.
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    production = passwords._Hashing.of(PasswordHash.recommended())
    real = PasswordHash.recommended().hash("a long enough password")
    assert production.dummy_hash.split("$")[:4] == real.split("$")[:4]
    assert PasswordHash.recommended().verify(
        "chatgate-dummy-password-for-timing", production.dummy_hash
    )

    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    assert "m=1024,t=1,p=1" in passwords._Hashing.of(cheap).dummy_hash


@pytest.mark.parametrize("password", ["", "1234567", " " * 12])
def test_short_or_blank_passwords_are_weak(password: str) -> None:
    with pytest.raises(WeakPassword):
        passwords.check_policy(password)


@pytest.mark.parametrize(
    "password", ["eight-8-8-8", "パスワードは長くて安全です", "a" * 1024, "emoji 🔑🔑🔑🔑"]
)
def test_any_characters_are_accepted(password: str) -> None:
    passwords.check_policy(password)


def test_password_equal_to_username_is_refused() -> None:
    with pytest.raises(WeakPassword):
        passwords.check_policy("Alice-the-great", username="alice-the-great")


async def test_verify_upgrades_nothing_for_a_current_hash() -> None:
    stored = await passwords.hash_password("a long enough password")
    assert await passwords.verify_password("a long enough password", stored) == (True, None)
    assert (await passwords.verify_password("wrong password!", stored))[0] is False
    assert (await passwords.verify_password("anything at all", None))[0] is False


@pytest.mark.parametrize(
    "password", ["password", "password1", "qwertyuiop", "iloveyou", "PASSWORD123"]
)
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword, match="common"):
        passwords.check_policy(password)
