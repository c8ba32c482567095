"""Quotas are enforced before any upstream call; the usage ledger matches the upstream's own
counts; people see what they have left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import data, events_of, iter_events


async def _ask(
    client: httpx.AsyncClient, content: str = "hi", cid: str | None = None
) -> httpx.Response:
    cid = cid or (await client.post("/api/conversations", json={})).json()["id"]
    return await client.post(f"/api/conversations/{cid}/messages", json={"content": content})


async def _harness(
    make_harness: Callable[..., Any], fake: FakeUpstream, **settings: Any
) -> Harness:
    harness: Harness = await make_harness(providers=providers_for(fake), **settings)
    return harness


async def test_requests_per_hour_answers_429_with_retry_after_and_no_upstream_call(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake, quotas={"requests_per_hour": 2})
    alice = await harness.user("alice")
    assert (await _ask(alice)).status_code == 200
    assert (await _ask(alice)).status_code == 200
    calls = fake.calls()
    refused = await _ask(alice)
    assert refused.status_code == 429
    assert 3000 < int(refused.headers["retry-after"]) <= 3600
    error = refused.json()["error"]
    assert (
        error["code"] == "quota_exceeded"
        and error["quota"] == "requests_per_hour"
        and error["resets_at"]
    )
    assert fake.calls() == calls
    bob = await harness.user("bob")
    assert (await _ask(bob)).status_code == 200, "quotas are per person"


@pytest.mark.parametrize(
    ("quota", "name"),
    [
        ({"messages_per_day": 1}, "messages_per_day"),
        ({"messages_per_month": 1}, "messages_per_month"),
        ({"tokens_per_day": 30}, "tokens_per_day"),  # one answer fits, then too little is left
        ({"tokens_per_month": 30}, "tokens_per_month"),
    ],
)
async def test_daily_and_monthly_limits(
    make_harness: Callable[..., Any], fake: FakeUpstream, quota: dict[str, int], name: str
) -> None:
    harness = await _harness(make_harness, fake, quotas=quota)
    alice = await harness.user("alice")
    assert (await _ask(alice)).status_code == 200
    refused = await _ask(alice)
    assert refused.status_code == 429 and refused.json()["error"]["quota"] == name
    assert int(refused.headers["retry-after"]) > 0


async def test_concurrent_generations_limit(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake, quotas={"concurrent_generations": 1})
    fake.set_scenario("normal", token_delay=0.1)
    alice = await harness.user("alice")
    remote = await harness.remote_user(alice)
    cid = (await remote.post("/api/conversations", json={})).json()["id"]
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "long"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "delta":
                second = await _ask(alice)
                assert second.status_code == 429
                assert second.json()["error"]["quota"] == "concurrent_generations"
                break
    await asyncio.sleep(0)


async def test_role_and_per_user_overrides(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(
        make_harness,
        fake,
        quotas={"messages_per_day": 1},
        role_quotas={"admin": {"messages_per_day": None}},
    )
    admin = await harness.user("root", role="admin")
    for _ in range(3):
        assert (await _ask(admin)).status_code == 200, "admins are unlimited by role"
    alice = await harness.user("alice")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    updated = await admin.patch(
        f"/api/admin/users/{alice_id}", json={"quota": {"messages_per_day": 3}}
    )
    assert updated.json()["quota"] == {"messages_per_day": 3}
    for _ in range(3):
        assert (await _ask(alice)).status_code == 200
    assert (await _ask(alice)).status_code == 429
    cleared = await admin.patch(f"/api/admin/users/{alice_id}", json={"quota": {}})
    assert cleared.json()["quota"] is None


async def test_allowed_models_limit_what_is_listed_and_used(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake, quotas={"allowed_models": ["claude-fake"]})
    alice = await harness.user("alice")
    models = (await alice.get("/api/models")).json()
    assert [m["id"] for m in models["models"]] == ["claude-fake"] and models[
        "default"
    ] == "claude-fake"
    refused = await _ask(alice)  # the server default is fake-model
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"
    cid = (
        await alice.post("/api/conversations", json={"settings": {"model": "claude-fake"}})
    ).json()["id"]
    assert (await _ask(alice, cid=cid)).status_code == 200
    assert fake.calls() == 1


async def test_max_input_tokens(make_harness: Callable[..., Any], fake: FakeUpstream) -> None:
    harness = await _harness(make_harness, fake, quotas={"max_input_tokens": 50})
    alice = await harness.user("alice")
    refused = await _ask(alice, "word " * 200)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "input_too_long"
    assert fake.calls() == 0
    assert (await _ask(alice, "short")).status_code == 200


async def test_people_see_what_they_have_left(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(
        make_harness, fake, quotas={"messages_per_day": 5, "tokens_per_month": 100_000}
    )
    alice = await harness.user("alice")
    await _ask(alice)
    report = (await alice.get("/api/account/usage")).json()
    assert report["messages_per_day"] == {
        "limit": 5,
        "used": 1,
        "remaining": 4,
        "resets_at": report["messages_per_day"]["resets_at"],
    }
    assert (
        report["tokens_per_month"]["used"]
        == fake.requests[-1].prompt_tokens + fake.requests[-1].tokens_sent
    )
    assert report["requests_per_hour"]["limit"] is None


async def test_ledger_matches_the_upstreams_own_counts_over_200_mixed_requests(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake)
    admin = await harness.user("root", role="admin")
    users = [admin, *[await harness.user(f"user{n}") for n in range(3)]]
    replies = ["short", "a somewhat longer answer with 中文 and emoji 🎉", "x " * 40]
    for n in range(190):
        fake.reply = replies[n % 3]
        response = await _ask(users[n % 4], f"question {n} " + "pad " * (n % 7))
        assert data(events_of(response)[-1]) == {"status": "complete"}

    # Ten stopped mid-answer: they count what was consumed (estimated, as the upstream never said).
    fake.reply = " ".join(f"w{n}" for n in range(200))
    fake.set_scenario("normal", token_delay=0.02)
    remote = await harness.remote_user(users[1])
    for _ in range(10):
        cid = (await remote.post("/api/conversations", json={})).json()["id"]
        async with remote.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "stop me"}
        ) as response:
            deltas = 0
            async for event in iter_events(response):
                if event.event == "start":
                    generation = data(event)["message_id"]
                if event.event == "delta":
                    deltas += 1
                    if deltas == 5:
                        await remote.post(f"/api/generations/{generation}/stop")
    completed = [r for r in fake.requests if r.status == 200 and r.closed_by_client_at is None]
    stopped = [r for r in fake.requests if r.closed_by_client_at is not None]
    assert len(completed) == 190 and len(stopped) == 10

    rows = (await admin.get("/api/admin/usage", params={"group": "day"})).json()
    assert sum(r["requests"] for r in rows) == 200
    exact = await harness.sql(
        "SELECT sum(prompt_tokens), sum(completion_tokens) FROM usage WHERE status = 'complete'"
    )
    estimated = await harness.sql(
        "SELECT count(*), min(completion_tokens) FROM usage WHERE status = 'stopped' AND estimated"
    )
    assert exact[0] == sum(r.prompt_tokens for r in completed)
    assert exact[1] == sum(r.tokens_sent for r in completed)
    assert estimated[0] == 10 and estimated[1] > 0
    total = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    assert total == exact[0] + exact[1] + await _stopped_tokens(harness)


async def _stopped_tokens(harness: Harness) -> int:
    (value,) = await harness.sql(
        "SELECT sum(prompt_tokens + completion_tokens) FROM usage WHERE status = 'stopped'"
    )
    return int(value or 0)
