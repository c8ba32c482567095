"""One running `continue` per answer: of several sent at once, one reaches the upstream and the
others get 409 `conflict`; a refused continue leaves the answer as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of


async def _cut_answer(client: httpx.AsyncClient, fake: FakeUpstream) -> tuple[str, str, str]:
    """A conversation whose answer was cut off mid-stream: (conversation, answer, its text)."""
    cid = (await client.post("/api/conversations", json={})).json()["id"]
    fake.set_scenario("reset_mid_stream", after_tokens=3)
    cut = events_of(
        await client.post(f"/api/conversations/{cid}/messages", json={"content": "Write a poem"})
    )
    assert data(cut[-1])["status"] == "error"
    return cid, data(cut[0])["message_id"], answer_text(cut)


async def _slow_continue(harness: Harness, fake: FakeUpstream, delay: float) -> tuple[Any, ...]:
    """Alice with a cut-off answer, the upstream now slow: (alice, conversation, answer, its text,
    the answer's continue URL)."""
    alice = await harness.user("alice")
    cid, answer_id, partial = await _cut_answer(alice, fake)
    fake.set_scenario("slow", token_delay=delay)
    url = f"/api/conversations/{cid}/messages/{answer_id}/continue"
    return alice, cid, answer_id, partial, url


async def _status(client: httpx.AsyncClient, cid: str, answer_id: str) -> str:
    messages = (await client.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    status: str = next(m for m in messages if m["id"] == answer_id)["status"]
    return status


async def test_three_continues_at_once_start_one_upstream_request(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice, cid, answer_id, partial, url = await _slow_continue(chat, fake, 0.02)
    fake.reply = " and the rest of it."
    upstream_before = len(fake.requests)
    responses = await asyncio.gather(*(alice.post(url) for _ in range(3)))

    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    assert len(fake.requests) == upstream_before + 1
    winner = next(r for r in responses if r.status_code == 200)
    assert answer_text(events_of(winner)) == partial + " and the rest of it."
    for refused in (r for r in responses if r.status_code == 409):
        error = refused.json()["error"]
        assert error["code"] == "conflict"
        assert "still being written" in error["message"]
    assert await _status(alice, cid, answer_id) == "complete"

    # Finished: it can be continued again.
    fake.reply = " More."
    again = events_of(await alice.post(url))
    assert answer_text(again).endswith(" More.")
    assert len(fake.requests) == upstream_before + 2


async def test_a_continue_while_the_answer_is_written_is_a_conflict(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice, cid, answer_id, _, url = await _slow_continue(chat, fake, 0.05)
    first = asyncio.create_task(alice.post(url))
    for _ in range(200):
        if await _status(alice, cid, answer_id) in ("queued", "streaming"):
            break
        await asyncio.sleep(0.01)
    second = await alice.post(url)
    assert second.status_code == 409 and second.json()["error"]["code"] == "conflict"
    assert (await first).status_code == 200


async def test_a_refused_continue_leaves_the_answer_as_it_was(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=providers_for(fake), default_model="fake-model", quotas={"requests_per_hour": 1}
    )
    alice = await harness.user("alice")
    cid, answer_id, _ = await _cut_answer(alice, fake)
    upstream_before = len(fake.requests)
    url = f"/api/conversations/{cid}/messages/{answer_id}/continue"
    for _ in range(2):
        refused = await alice.post(url)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "quota_exceeded"
    assert await _status(alice, cid, answer_id) == "error"
    assert len(fake.requests) == upstream_before
