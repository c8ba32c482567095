"""Every fault of the fake upstream ends the documented way: retried before the first token, an
error event keeping the partial text after it; never a 500, a hung stream or a leaked task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import MODELS, REPLY, providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of, kinds


async def _ask(
    harness: Harness, *, model: str = "fake-model", client: Any = None
) -> tuple[list[Any], dict[str, Any]]:
    client = client or await harness.user("alice")
    cid = (await client.post("/api/conversations", json={})).json()["id"]
    events = events_of(
        await client.post(
            f"/api/conversations/{cid}/messages", json={"content": "hi", "model": model}
        )
    )
    stored = (await client.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    return events, stored


@pytest.mark.parametrize(
    "scenario",
    [
        "malformed_crlf",
        "malformed_comments",
        "split_bytes",
        "missing_done",
        "double_done",
        "invalid_json_line",
        "empty_choices",
    ],
)
@pytest.mark.parametrize("kind", sorted(MODELS))
async def test_odd_but_valid_streams_give_the_exact_text(
    chat: Harness, fake: FakeUpstream, scenario: str, kind: str
) -> None:
    if kind != "openai" and scenario in ("empty_choices",):
        pytest.skip("OpenAI-specific wire detail")
    fake.set_scenario(scenario)
    events, stored = await _ask(chat, model=MODELS[kind])
    assert data(events[-1]) == {"status": "complete"}, events[-3:]
    assert answer_text(events) == REPLY
    assert stored["content"] == REPLY


@pytest.mark.parametrize("kind", sorted(MODELS))
async def test_server_error_before_the_first_token_is_retried(
    chat: Harness, fake: FakeUpstream, kind: str
) -> None:
    fake.queue("server_error")
    events, stored = await _ask(chat, model=MODELS[kind])
    assert data(events[-1]) == {"status": "complete"}
    assert stored["content"] == REPLY
    assert fake.calls() == 2


async def test_rate_limit_waits_for_retry_after_then_retries(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.queue({"name": "rate_limited", "retry_after": 1})
    started = time.monotonic()
    events, _ = await _ask(chat)
    assert data(events[-1]) == {"status": "complete"}
    attempts = [r.received_at for r in fake.requests]
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 1.0
    assert time.monotonic() - started < 5


async def test_retries_are_bounded(chat: Harness, fake: FakeUpstream) -> None:
    fake.set_scenario("server_error", status=503)
    events, stored = await _ask(chat)
    assert data(events[-1]) == {"status": "error"}
    error = data(next(e for e in events if e.event == "error"))
    assert error["code"] == "upstream_error" and "503" in error["message"]
    assert fake.calls() == 3  # the first try and upstream_retries=2
    assert stored["status"] == "error" and stored["error"]["code"] == "upstream_error"


@pytest.mark.parametrize("kind", sorted(MODELS))
async def test_reset_mid_stream_keeps_the_partial_text_and_is_not_retried(
    chat: Harness, fake: FakeUpstream, kind: str
) -> None:
    fake.set_scenario("reset_mid_stream", after_tokens=3)
    events, stored = await _ask(chat, model=MODELS[kind])
    assert kinds(events)[-2:] == ["error", "done"]
    assert data(events[-1]) == {"status": "error"}
    partial = answer_text(events)
    assert partial and REPLY.startswith(partial)
    assert stored["content"] == partial and stored["status"] == "error"
    assert fake.calls() == 1


@pytest.mark.parametrize("kind", sorted(MODELS))
async def test_error_event_mid_stream_is_an_error_keeping_the_text(
    chat: Harness, fake: FakeUpstream, kind: str
) -> None:
    fake.set_scenario("error_mid_stream", after_tokens=3)
    events, stored = await _ask(chat, model=MODELS[kind])
    assert data(events[-1]) == {"status": "error"}
    assert stored["content"] == answer_text(events) != ""


@pytest.mark.parametrize("kind", sorted(MODELS))
async def test_html_error_page_becomes_a_clear_error_not_an_answer(
    chat: Harness, fake: FakeUpstream, kind: str
) -> None:
    fake.set_scenario("cloudflare_challenge" if kind == "chatgpt_web" else "html_error")
    events, stored = await _ask(chat, model=MODELS[kind])
    assert data(events[-1]) == {"status": "error"}
    error = data(next(e for e in events if e.event == "error"))
    assert "<" not in error["message"] and "html" not in error["message"].lower()
    assert stored["content"] == ""


async def test_auth_error_tells_the_user_without_the_key_and_rests_the_credential(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.set_scenario("auth_error")
    events, _ = await _ask(chat)
    error = data(next(e for e in events if e.event == "error"))
    assert error["code"] == "upstream_resting"  # says when it will be tried again
    assert "sk-test" not in str(events)
    credential = chat.services.registry.route("fake-model").provider.credentials[0]
    assert credential.state.resting and credential.state.rests == 1
    assert fake.calls() == 1


async def test_first_token_timeout_ends_with_an_error(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(providers=providers_for(fake), first_token_timeout=1.0)
    fake.set_scenario("stall_before_first_token", seconds=10)
    started = time.monotonic()
    events, stored = await _ask(harness)
    assert time.monotonic() - started < 4
    error = data(next(e for e in events if e.event == "error"))
    assert error["code"] == "upstream_timeout"
    assert stored["status"] == "error"


async def test_idle_timeout_mid_answer_keeps_the_partial_text(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(providers=providers_for(fake), idle_timeout=1.0)
    fake.set_scenario("long_pause", after_tokens=2, pause=10)
    events, stored = await _ask(harness)
    assert data(events[-1]) == {"status": "error"}
    assert stored["content"] == answer_text(events) != ""


async def test_a_long_pause_shorter_than_the_idle_timeout_is_fine(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.set_scenario("long_pause", after_tokens=2, pause=1.5)
    events, stored = await _ask(chat)
    assert data(events[-1]) == {"status": "complete"} and stored["content"] == REPLY


async def test_unreachable_upstream_is_a_clear_error(make_harness: Callable[..., Any]) -> None:
    providers = [
        {
            "name": "gone",
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "models": ["fake-model"],
            "credentials": [{"api_key": "sk-whatever-0000000000"}],
        }
    ]
    harness: Harness = await make_harness(providers=providers, upstream_retries=1)
    events, stored = await _ask(harness)
    error = data(next(e for e in events if e.event == "error"))
    assert error["message"] == "Could not connect to the AI service."
    assert stored["status"] == "error"


async def test_no_generation_task_is_left_behind(chat: Harness, fake: FakeUpstream) -> None:
    for scenario in ("reset_mid_stream", "server_error", "normal"):
        fake.set_scenario(scenario)
        await _ask(chat, client=await chat.user(f"user-{scenario}"))
    await asyncio.sleep(0.05)
    generations = chat.services.generations
    assert generations._live == {}, "finished generations leave the running set"
    assert all(g.task is None for g in generations._recent.values()), "nor hold their task"
    leftovers = [
        t
        for t in asyncio.all_tasks()
        if (t.get_name() or "").startswith("generation-") and not t.done()
    ]
    assert leftovers == []


async def test_an_unexpected_failure_while_finishing_still_ends_the_stream(
    chat: Harness, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug on the way to `done` (here: counting tokens blows up) must not leave readers
    waiting forever: they get `error` and `done`, and the answer's rows are ended."""
    from chatgate.services import tokens  # as the generation service counts them

    def broken(_text: str) -> int:
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(tokens, "count", broken)
    fake.set_scenario("normal")
    events, stored = await asyncio.wait_for(_ask(chat, model=MODELS["chatgpt_web"]), timeout=20)
    assert [e.event for e in events][-2:] == ["error", "done"]
    assert data(events[-1]) == {"status": "error"}
    assert data(events[-2])["code"] == "internal_error"
    assert stored["status"] == "error"
    assert chat.services.generations.get("x", stored["id"]) is None
    live = await chat.sql("SELECT count(*) FROM usage WHERE status IN ('queued', 'streaming')")
    assert live[0] == 0
