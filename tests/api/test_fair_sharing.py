"""Many people on one rate-limited upstream: fair queueing, positions, stopping a queued request,
and failing over between the credentials of a pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import data, events_of, iter_events, kinds


async def _one_slot(
    make_harness: Callable[..., Any], fake: FakeUpstream, **overrides: Any
) -> Harness:
    harness: Harness = await make_harness(providers=providers_for(fake, concurrency=1, **overrides))
    return harness


async def _ask(client: httpx.AsyncClient, content: str) -> list[Any]:
    cid = (await client.post("/api/conversations", json={})).json()["id"]
    return events_of(
        await client.post(f"/api/conversations/{cid}/messages", json={"content": content})
    )


async def test_one_persons_many_requests_do_not_starve_anothers(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _one_slot(make_harness, fake)
    fake.set_scenario("normal", token_delay=0.03)
    alice, bob = await harness.user("alice"), await harness.user("bob")
    alice_tasks = []
    for n in range(5):
        alice_tasks.append(asyncio.create_task(_ask(alice, f"alice {n}")))
        await asyncio.sleep(0.02)  # A's five are queued before B arrives
    bob_task = asyncio.create_task(_ask(bob, "bob 0"))
    results = await asyncio.gather(*alice_tasks, bob_task)
    assert all(data(events[-1]) == {"status": "complete"} for events in results)
    served = [r.json["messages"][-1]["content"] for r in fake.requests]
    # No later than A's second, whichever of A's requests reached the queue first.
    assert served.index("bob 0") <= 1, served
    bob_events = results[-1]
    assert "queued" in kinds(bob_events), "bob waited and was told his place"


async def test_queue_positions_count_down(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _one_slot(make_harness, fake)
    fake.set_scenario("normal", token_delay=0.1)
    users = [await harness.user(f"user{n}") for n in range(3)]
    # Conversations first: on a loaded machine creating one took longer than the first answer,
    # and the third question arrived with only one ahead of it.
    cids = [(await c.post("/api/conversations", json={})).json()["id"] for c in users]
    tasks = []
    for client, cid in zip(users, cids, strict=True):
        tasks.append(
            asyncio.create_task(
                client.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
            )
        )
        await asyncio.sleep(0.2)
    results = [events_of(response) for response in await asyncio.gather(*tasks)]
    last = [data(e)["position"] for e in results[2] if e.event == "queued"]
    assert last[0] == 2 and last[-1] == 1, last
    assert kinds(results[0]).count("queued") == 0


async def test_stopping_a_queued_request_frees_its_place(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _one_slot(make_harness, fake)
    # Alice's answer holds the one slot for about five seconds: time enough, even on a loaded
    # machine, for Bob to be queued and stopped while he waits.
    fake.reply = " ".join(f"w{n}" for n in range(50))
    fake.set_scenario("normal", token_delay=0.1)
    alice, bob, carol = (
        await harness.user("alice"),
        await harness.user("bob"),
        await harness.user("carol"),
    )
    running = asyncio.create_task(_ask(alice, "long one"))
    await asyncio.sleep(0.1)
    remote_bob = await harness.remote_user(bob)
    cid = (await remote_bob.post("/api/conversations", json={})).json()["id"]
    async with remote_bob.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "bob waits"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "start":
                generation = data(event)["message_id"]
            if event.event == "queued":
                carol_task = asyncio.create_task(_ask(carol, "carol waits"))
                await asyncio.sleep(0.1)
                assert (await remote_bob.post(f"/api/generations/{generation}/stop")).json()[
                    "status"
                ] == "stopped"
            if event.event == "done":
                assert data(event) == {"status": "stopped"}
    carol_events = await carol_task
    assert [data(e)["position"] for e in carol_events if e.event == "queued"][-1] == 1
    await running
    assert "bob waits" not in [r.json["messages"][-1]["content"] for r in fake.requests]
    stored = (await bob.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert stored["status"] == "stopped" and stored["content"] == ""


async def test_a_rate_limited_key_cools_down_and_the_pool_fails_over(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    providers = providers_for(fake)
    providers[0]["credentials"] = [
        {"name": "first", "api_key": "sk-first-key-000000000000", "concurrency": 2},
        {"name": "second", "api_key": "sk-second-key-00000000000", "concurrency": 2},
    ]
    harness: Harness = await make_harness(providers=providers)
    admin = await harness.user("root", role="admin")
    fake.queue({"name": "rate_limited", "retry_after": 30})
    events = await _ask(admin, "please")
    assert data(events[-1]) == {"status": "complete"}
    keys = [r.headers["authorization"][-24:] for r in fake.requests]
    assert keys[0] != keys[1], "the retry went to the other key"
    limited = keys[0]

    for n in range(4):
        assert data((await _ask(admin, f"more {n}"))[-1]) == {"status": "complete"}
    assert all(r.headers["authorization"][-24:] != limited for r in fake.requests[2:]), (
        "the limited key rests"
    )

    pool = (await admin.get("/api/admin/providers")).json()[0]
    cooling = {c["name"]: c for c in pool["credentials"]}
    limited_name = "first" if limited.startswith("first") or "first" in limited else "second"
    assert cooling[limited_name]["cooling_down_seconds"] > 20
    assert cooling[limited_name]["last_error"]
    assert "sk-" not in str(pool)


async def test_a_refused_key_is_shown_resting_to_the_admin(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(providers=providers_for(fake))
    admin = await harness.user("root", role="admin")
    fake.set_scenario("auth_error")
    events = await _ask(admin, "hello")
    assert data(next(e for e in events if e.event == "error"))["code"] == "upstream_resting"
    credential = (await admin.get("/api/admin/providers")).json()[0]["credentials"][0]
    assert credential["state"] == "resting" and credential["last_error"]
    assert credential["failing"] is True and credential["next_try_at"]
    again = await _ask(admin, "again")
    assert data(next(e for e in again if e.event == "error"))["code"] == "upstream_resting"
    assert fake.calls() == 1, "a resting key is not hammered"
