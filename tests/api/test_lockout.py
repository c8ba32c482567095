"""Guessing cannot be turned into a lockout: attempts are limited per (account, address) and per
address, never per account alone, so failures from other addresses never refuse the right
password from an address without failures of its own. An address that keeps failing for one
account is slowed down, then refused; refused guesses are answered before any hashing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chatgate.security.passwords import verify_password
from chatgate.services import auth
from tests.conftest import PASSWORD, Harness

ADDRESSES = 100
GUESSES_EACH = 10  # login_attempts_per_account: 10 per account and address


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts password verifications (argon2 runs)."""
    calls: list[int] = []

    async def counting(password: str, password_hash: str | None) -> tuple[bool, str | None]:
        calls.append(1)
        return await verify_password(password, password_hash)

    monkeypatch.setattr(auth, "verify_password", counting)
    return calls


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The failure counts each password check was slowed down for (0: not slowed)."""
    seen: list[int] = []
    slowdown = auth.slowdown

    def recording(failures: int) -> float:
        seen.append(failures)
        return slowdown(failures)

    monkeypatch.setattr(auth, "slowdown", recording)
    return seen


async def _login(client: Any, username: str, password: str) -> Any:
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def test_a_thousand_guesses_from_elsewhere_do_not_lock_the_admin_out(
    harness: Harness, waits: list[int]
) -> None:
    await harness.services.users.create_user("admin", PASSWORD, role="admin")

    async def guess_from(n: int) -> list[int]:
        client = await harness.client(peer=(f"198.51.{n // 250}.{n % 250 + 1}", 40000 + n))
        return [
            (await _login(client, "admin", f"guess {n}-{i}")).status_code
            for i in range(GUESSES_EACH)
        ]

    started = time.monotonic()
    results = await asyncio.gather(*(guess_from(n) for n in range(ADDRESSES)))
    assert [s for statuses in results for s in statuses] == [401] * ADDRESSES * GUESSES_EACH
    guessing = time.monotonic() - started

    assert sorted(set(waits)) == list(range(GUESSES_EACH)), "each address slowed on its own"

    fresh = await harness.client(peer=("203.0.113.50", 50000))
    started = time.monotonic()
    response = await _login(fresh, "Admin", PASSWORD)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert waits[-1] == 0, "the admin's address has no failures: not slowed down"
    assert took < 1.0, f"the admin waited {took:.2f} s"
    assert guessing < 60


async def test_an_address_that_keeps_guessing_is_slowed_then_refused(
    harness: Harness, hashed: list[int], waits: list[int]
) -> None:
    await harness.services.users.create_user("admin", PASSWORD, role="admin")
    attacker = await harness.client(peer=("198.51.100.66", 40000))
    for i in range(GUESSES_EACH):
        started = time.monotonic()
        assert (await _login(attacker, "admin", f"guess {i}")).status_code == 401
        took = time.monotonic() - started
    # Slowed down from the fourth failure on, growing with each.
    assert waits == list(range(GUESSES_EACH))
    assert took >= auth.slowdown(GUESSES_EACH - 1) == auth.SLOWDOWN_MAX_SECONDS
    assert len(hashed) == GUESSES_EACH

    refused = await _login(attacker, "admin", PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["code"] == "rate_limited"
    assert len(hashed) == GUESSES_EACH, "a refused guess is answered before any hashing"

    # The same address moving on to other accounts hits its own limit (30 per address).
    statuses = [(await _login(attacker, f"user{i}", "guess")).status_code for i in range(25)]
    assert statuses == [401] * 20 + [429] * 5
    assert len(hashed) == 30

    # The admin, from their own address, is not affected at all.
    own = await harness.client(peer=("203.0.113.10", 50000))
    assert (await _login(own, "admin", PASSWORD)).status_code == 200
    assert waits[-1] == 0


async def test_a_few_typos_then_the_right_password_signs_in(
    harness: Harness, waits: list[int]
) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    client = await harness.client(peer=("192.0.2.20", 40000))
    for i in range(5):
        assert (await _login(client, "alice", f"typo {i}")).status_code == 401
    assert (await _login(client, "alice", PASSWORD)).status_code == 200
    assert waits == [0, 1, 2, 3, 4, 5], "slowed down, not locked"
    # Success forgets this address's failures for the account: no slowdown afterwards.
    await client.post("/api/auth/logout")
    assert (await _login(client, "alice", "one more typo")).status_code == 401
    assert waits[-1] == 0


async def test_unknown_accounts_are_throttled_like_real_ones(
    harness: Harness, hashed: list[int]
) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    client = await harness.client(peer=("192.0.2.30", 40000))

    async def guesses(name: str) -> list[int]:
        return [
            (await _login(client, name, f"guess {i}")).status_code for i in range(GUESSES_EACH + 1)
        ]

    known, unknown = await asyncio.gather(guesses("alice"), guesses("nobody"))
    assert known == unknown == [401] * GUESSES_EACH + [429]
    assert len(hashed) == 2 * GUESSES_EACH


def test_the_slowdown_is_small_and_grows() -> None:
    delays = [auth.slowdown(n) for n in range(12)]
    assert delays[: auth.SLOWDOWN_FREE_FAILURES] == [0.0] * auth.SLOWDOWN_FREE_FAILURES
    assert delays == sorted(delays)
    assert 0 < delays[auth.SLOWDOWN_FREE_FAILURES] < delays[-1] <= auth.SLOWDOWN_MAX_SECONDS <= 1
