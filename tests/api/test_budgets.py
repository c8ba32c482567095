"""Budgets are reservations: simultaneous requests of one person can never together pass a request
limit, and a token budget at most by one answer — however many are sent at once. (The same
bodies run on PostgreSQL + Redis with `make pytest-postgres`; two real instances in
test_instances.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream

LONG_REPLY = " ".join(f"word{n}" for n in range(400))  # far more than any budget below


async def _conversations(client: httpx.AsyncClient, count: int) -> list[str]:
    return [(await client.post("/api/conversations", json={})).json()["id"] for _ in range(count)]


async def _ask_all(client: httpx.AsyncClient, conversations: list[str]) -> list[httpx.Response]:
    async def ask(cid: str) -> httpx.Response:
        return await client.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})

    return list(await asyncio.gather(*(ask(cid) for cid in conversations)))


async def _spent(harness: Harness, username: str) -> tuple[int, int]:
    """Requests and tokens (as the upstream reported them) in the ledger."""
    row = await harness.sql(
        "SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage "
        f"JOIN users ON users.id = usage.user_id WHERE users.username = '{username}'"
    )
    return int(row[0]), int(row[1])


@pytest.mark.parametrize("parallel", [6, 60])
async def test_simultaneous_requests_never_overspend_a_token_budget(
    make_harness: Callable[..., Any], fake: FakeUpstream, parallel: int
) -> None:
    budget = 100
    fake.reply = LONG_REPLY
    harness: Harness = await make_harness(
        providers=providers_for(fake), quotas={"tokens_per_day": budget}
    )
    alice = await harness.user("alice")
    responses = await _ask_all(alice, await _conversations(alice, parallel))
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert admitted and len(admitted) + len(refused) == parallel
    assert all(r.json()["error"]["quota"] == "tokens_per_day" for r in refused)

    # Every request the upstream saw was bounded by what was left of the budget …
    assert all(0 < r.json["max_tokens"] <= budget for r in fake.requests)
    # … so what was spent stays within the budget (the slack is our prompt estimate's error).
    _, tokens = await _spent(harness, "alice")
    longest = max(r.json["max_tokens"] for r in fake.requests)
    assert tokens <= budget + longest, (tokens, [r.json["max_tokens"] for r in fake.requests])
    assert tokens <= budget * 1.1


async def test_an_answer_is_cut_to_what_the_budget_has_left(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    fake.reply = LONG_REPLY
    harness: Harness = await make_harness(
        providers=providers_for(fake), quotas={"tokens_per_day": 300}
    )
    alice = await harness.user("alice")
    [cid] = await _conversations(alice, 1)
    await alice.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
    answer = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert answer["status"] == "complete" and answer["finish_reason"] == "length"
    assert 250 < fake.requests[-1].json["max_tokens"] < 300
    _, tokens = await _spent(harness, "alice")
    assert tokens <= 300
    usage = (await alice.get("/api/account/usage")).json()["tokens_per_day"]
    assert usage["used"] == tokens, "the reservation was replaced by the real count"


async def test_sixty_at_once_admit_exactly_the_hourly_limit(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=providers_for(fake), quotas={"requests_per_hour": 5}
    )
    alice = await harness.user("alice")
    responses = await _ask_all(alice, await _conversations(alice, 60))
    assert sum(r.status_code == 200 for r in responses) == 5
    assert sum(r.status_code == 429 for r in responses) == 55
    assert fake.calls() == 5
    assert (await _spent(harness, "alice"))[0] == 5


async def test_concurrent_generations_hold_under_a_burst(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    fake.set_scenario("normal", token_delay=0.02)
    harness: Harness = await make_harness(
        providers=providers_for(fake), quotas={"concurrent_generations": 2}
    )
    alice = await harness.user("alice")
    responses = await _ask_all(alice, await _conversations(alice, 20))
    admitted = sum(r.status_code == 200 for r in responses)
    assert 2 <= admitted < 20
    spans = sorted((r.received_at, r.finished_at or 0.0) for r in fake.requests)
    overlap = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert overlap <= 2
