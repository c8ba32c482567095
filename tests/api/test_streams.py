"""Streams survive closed tabs, reloads and second tabs; stop works from anywhere.

These tests read streams over a real socket, as a browser does, so events are seen as they
arrive rather than after the answer is complete.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.conftest import REDIS_URL, Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of, iter_events, kinds

T = TypeVar("T")

REPLY = "one two three four five six seven eight nine ten eleven twelve"


async def _setup(
    chat: Harness, fake: FakeUpstream, *, token_delay: float
) -> tuple[httpx.AsyncClient, str]:
    fake.reply = REPLY
    fake.set_scenario("normal", token_delay=token_delay)
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    return await chat.remote_user(alice), cid


async def test_tokens_arrive_one_by_one_before_the_answer_ends(
    chat: Harness, fake: FakeUpstream
) -> None:
    remote, cid = await _setup(chat, fake, token_delay=0.05)
    arrivals: list[float] = []
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "count"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "delta":
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 10
    assert arrivals[-1] - arrivals[0] > 0.3, "deltas must not arrive in one lump"


async def test_closing_the_client_does_not_stop_the_answer_and_reattach_sends_only_what_is_missing(
    chat: Harness, fake: FakeUpstream
) -> None:
    remote, cid = await _setup(chat, fake, token_delay=0.05)
    seen: list[str] = []
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
    ) as response:
        async for event in iter_events(response):
            seen.append(event.id or "")
            if event.event == "start":
                generation = data(event)["message_id"]
            if event.event == "delta" and len(seen) >= 5:
                break  # the tab closes mid-answer
    last_seen = int(seen[-1])

    # Another tab re-attaches while the answer is still being written.
    async with remote.stream(
        "GET", f"/api/generations/{generation}/events", headers={"Last-Event-ID": str(last_seen)}
    ) as response:
        rest = [event async for event in iter_events(response)]
    assert int(rest[0].id or 0) == last_seen + 1
    assert [int(e.id or 0) for e in rest] == list(range(last_seen + 1, last_seen + 1 + len(rest)))
    assert kinds(rest)[-1] == "done"

    # The whole stream from the start equals the stored answer.
    replay = events_of(await remote.get(f"/api/generations/{generation}/events"))
    assert answer_text(replay) == REPLY
    stored = (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert stored["content"] == REPLY and stored["status"] == "complete"


def _awaiting(task: asyncio.Task[object]) -> list[str]:
    """The qualified names of the coroutines a task is suspended in, outermost first."""
    names: list[str] = []
    awaited: object = task.get_coro()
    while awaited is not None and hasattr(awaited, "cr_code"):
        names.append(awaited.cr_code.co_qualname)
        awaited = getattr(awaited, "cr_await", None)
    return names


# The layers below RequestContext, each a frame per stream for as long as it lasts, if kept.
INNER_LAYERS = ("BodyLimit.__call__", "CsrfGuard.__call__", "Router.__call__", "request_response")


async def _while_streaming(
    chat: Harness, fake: FakeUpstream, look: Callable[[set[asyncio.Task[Any]]], T]
) -> tuple[str, T]:
    """`look` at every task while a question's answer streams (after its first delta)."""
    remote, cid = await _setup(chat, fake, token_delay=0.2)
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "hold on"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "delta":
                break
        return cid, look(asyncio.all_tasks())


async def test_a_running_stream_holds_no_frame_of_the_router_or_the_inner_middleware(
    chat: Harness, fake: FakeUpstream
) -> None:
    _, stacks = await _while_streaming(chat, fake, lambda tasks: [_awaiting(t) for t in tasks])
    streaming = [s for s in stacks if "RequestContext.__call__" in s and "write_until_gone" in s]
    assert len(streaming) == 1, stacks
    held = [name for name in streaming[0] if any(layer in name for layer in INNER_LAYERS)]
    assert held == [], streaming[0]


def _scope_of_request(task: asyncio.Task[object]) -> dict[str, object] | None:
    awaited: object = task.get_coro()
    while awaited is not None and hasattr(awaited, "cr_code"):
        if awaited.cr_code.co_qualname == "RequestContext.__call__":
            return awaited.cr_frame.f_locals["scope"]  # type: ignore[attr-defined, no-any-return]
        awaited = getattr(awaited, "cr_await", None)
    return None


async def test_a_running_stream_keeps_none_of_the_routers_leftovers_in_its_scope(
    chat: Harness, fake: FakeUpstream
) -> None:
    def streams_scopes(tasks: set[asyncio.Task[Any]]) -> list[dict[str, object]]:
        return [
            scope
            for task in tasks
            if "write_until_gone" in _awaiting(task)
            and (scope := _scope_of_request(task)) is not None
        ]

    cid, scopes = await _while_streaming(chat, fake, streams_scopes)
    assert len(scopes) == 1
    # The route, its exit stacks and FastAPI's scope dict: closed, and held for minutes if kept.
    left = sorted(k for k in scopes[0] if k.startswith("fastapi") or k in ("route", "endpoint"))
    assert left == [], left
    assert scopes[0]["path"] == f"/api/conversations/{cid}/messages"  # what the log line reads
    # Nor the room they took: a dict keeps its table when keys are deleted.
    assert sys.getsizeof(scopes[0]) <= sys.getsizeof(dict(scopes[0]))


async def test_generation_finishes_and_is_stored_with_nobody_listening(
    chat: Harness, fake: FakeUpstream
) -> None:
    remote, cid = await _setup(chat, fake, token_delay=0.02)
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "delta":
                break
    for _ in range(200):
        stored = (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
        if stored["status"] == "complete":
            break
        await asyncio.sleep(0.05)
    assert stored["content"] == REPLY


async def test_partial_text_is_checkpointed_while_streaming(
    chat: Harness, fake: FakeUpstream
) -> None:
    remote, cid = await _setup(chat, fake, token_delay=0.25)
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "slowly"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "delta":
                break
        await asyncio.sleep(1.6)
        stored = (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
        assert stored["status"] == "streaming"
        assert stored["content"] and REPLY.startswith(stored["content"])
        await remote.post(f"/api/generations/{stored['id']}/stop")


async def test_stop_from_a_second_tab_ends_the_upstream_request_within_a_second(
    chat: Harness, fake: FakeUpstream
) -> None:
    remote, cid = await _setup(chat, fake, token_delay=0.2)
    other_tab = await chat.remote_user(remote)
    events = []
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
    ) as response:
        async for event in iter_events(response):
            events.append(event)
            if event.event == "start":
                generation = data(event)["message_id"]
            if kinds(events).count("delta") == 3:
                stopped_at = time.monotonic()
                answer = await other_tab.post(f"/api/generations/{generation}/stop")
                assert answer.status_code == 202
                assert answer.json()["status"] == "stopped"
    assert data(events[-1]) == {"status": "stopped"}
    record = fake.requests[-1]
    assert record.closed_by_client_at is not None
    assert record.closed_by_client_at - stopped_at < 1.0
    stored = (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert stored["status"] == "stopped"
    assert stored["content"] == answer_text(events)
    assert stored["content"] and REPLY.startswith(stored["content"])


async def test_reattaching_after_the_answer_finished_gets_the_stored_text(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    events = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
    )
    generation = data(events[0])["message_id"]
    await chat.services.generations.settle()
    chat.services.generations._recent.clear()  # as after a restart, or once the replay window closed
    replay = events_of(
        await alice.get(f"/api/generations/{generation}/events", headers={"Last-Event-ID": "3"})
    )
    if REDIS_URL:
        # Several instances: the events are still in Redis, so the replay stays exact.
        assert [int(e.id or 0) for e in replay] == list(range(4, len(events) + 1))
        assert answer_text(events[:3] + replay) == answer_text(events)
    else:
        assert kinds(replay) == ["reset", "usage", "done"]
        assert data(replay[0])["text"] == answer_text(events)
        assert int(replay[0].id or 0) == 4
        # The token counts the tab would have had, from the stored row.
        assert data(replay[1]) == next(data(e) for e in events if e.event == "usage")


async def test_another_users_generation_is_404(chat: Harness, fake: FakeUpstream) -> None:
    fake.set_scenario("normal", token_delay=0.1)
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    remote = await chat.remote_user(alice)
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "secret"}
    ) as response:
        async for event in iter_events(response):
            if event.event == "start":
                generation = data(event)["message_id"]
                break
    for response in (
        await bob.get(f"/api/generations/{generation}/events"),
        await bob.post(f"/api/generations/{generation}/stop"),
        await bob.post(f"/api/conversations/{cid}/messages", json={"content": "mine now"}),
        await bob.post(f"/api/conversations/{cid}/messages/{generation}/regenerate"),
        await bob.post(f"/api/conversations/{cid}/messages/{generation}/continue"),
    ):
        assert response.status_code == 404, response.request.url
    assert chat.services.generations.get("x", generation) is None
    await remote.post(f"/api/generations/{generation}/stop")
    assert (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1][
        "status"
    ] == "stopped"


async def test_bytes_per_delta_do_not_grow_with_the_length_of_the_answer(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.reply = " abcd" * 3000
    fake.set_scenario("normal", token_delay=0)
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    response = await alice.post(f"/api/conversations/{cid}/messages", json={"content": "long"})
    frames = [f for f in response.content.split(b"\n\n") if b"\nevent: delta\n" in f]
    assert len(frames) == 3000
    # Everything but the growing event id is the same for the first delta and the 3,000th.
    without_id = {frame.split(b"\n", 1)[1] for frame in frames}
    assert without_id == {b'event: delta\ndata: {"text":" abcd"}'}
    assert all(frame.startswith(b"id: ") for frame in frames)


async def test_a_finished_answer_nobody_reads_replays_its_closing_events_exactly_and_its_text_whole(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.reply = REPLY
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    events = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
    )
    generation = data(events[0])["message_id"]
    last_text = max(int(e.id or 0) for e in events if e.event == "delta")
    assert generation in chat.services.generations._recent  # in the replay window

    # The tab missed only the closing events: they come from memory, exactly.
    closing = events_of(
        await alice.get(
            f"/api/generations/{generation}/events", headers={"Last-Event-ID": str(last_text)}
        )
    )
    assert [(e.id, e.event, e.data) for e in closing] == [
        (e.id, e.event, e.data) for e in events if int(e.id or 0) > last_text
    ]
    assert kinds(closing)[-1] == "done"

    # It missed text: the answer comes whole and the same, whatever is still in memory.
    replay = events_of(
        await alice.get(f"/api/generations/{generation}/events", headers={"Last-Event-ID": "3"})
    )
    assert answer_text(events[:3] + replay) == answer_text(events) == REPLY
    assert int(replay[0].id or 0) == 4
    assert kinds(replay)[-1] == "done"
    assert [data(e) for e in replay if e.event == "usage"] == [
        data(e) for e in events if e.event == "usage"
    ]
    if not REDIS_URL:  # one instance: the finished answer no reader follows holds no text
        assert kinds(replay) == ["reset", "usage", "done"]
