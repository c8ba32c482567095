"""People's own tools talk to ChatGate as if it were OpenAI: the official `openai` package works
with a personal API key, under the same quotas and ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.api.conftest import REPLY, providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream


async def _client(
    harness: Harness, username: str = "alice"
) -> tuple[openai.AsyncOpenAI, Any, dict[str, Any]]:
    web = await harness.user(username)
    created = (await web.post("/api/account/keys", json={"name": "my script"})).json()
    assert created["key"].startswith("cg-") and created["prefix"] == created["key"][:8]
    base = await harness.serve()
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=created["key"], max_retries=0)
    return client, web, created


async def test_streaming_through_the_openai_package(chat: Harness, fake: FakeUpstream) -> None:
    client, web, _ = await _client(chat)
    stream = await client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert "".join(pieces) == REPLY
    assert len(pieces) > 5 and finish == "stop"
    assert usage is not None and usage.completion_tokens == fake.requests[-1].tokens_sent
    assert fake.requests[-1].json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (await web.get("/api/conversations")).json()["items"] == [], (
        "API calls are not stored as chats"
    )
    await client.close()


async def test_a_finished_api_answer_is_not_held_for_a_reload(
    chat: Harness, fake: FakeUpstream
) -> None:
    # A tab may reload and re-attach to a browser answer for a while after it ends; an API
    # client cannot (keys never reach /api/generations), so its answer's memory goes at once.
    client, web, _ = await _client(chat)
    stream = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    ids = {chunk.id async for chunk in stream}
    assert chat.services.generations.held == 0
    cid = (await web.post("/api/conversations", json={})).json()["id"]
    answer = await web.post(f"/api/conversations/{cid}/messages", json={"content": "Hello"})
    assert answer.status_code == 200 and "event: done" in answer.text
    assert chat.services.generations.held == 1
    (api_answer,) = ids
    gone = await web.get(f"/api/generations/{api_answer.removeprefix('chatcmpl-')}/events")
    assert gone.status_code == 404
    await client.close()


async def test_non_streaming_completion_and_model_list(chat: Harness, fake: FakeUpstream) -> None:
    client, _, _ = await _client(chat)
    completion = await client.chat.completions.create(
        model="claude-fake", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.choices[0].message.content == REPLY
    assert completion.usage is not None and completion.usage.total_tokens > 0
    models = [m.id async for m in client.models.list()]
    assert "fake-model" in models and "claude-fake" in models
    await client.close()


async def test_a_revoked_key_is_refused(chat: Harness) -> None:
    client, web, created = await _client(chat)
    assert (await web.delete(f"/api/account/keys/{created['id']}")).status_code == 204
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "Hi"}]
        )
    keys = (await web.get("/api/account/keys")).json()
    assert keys[0]["revoked_at"]
    assert keys[0].get("key") is None
    await client.close()


async def test_api_calls_count_against_the_same_quota(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=providers_for(fake), quotas={"requests_per_hour": 1}
    )
    client, web, _ = await _client(harness)
    await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "Hi"}]
    )
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "Again"}]
        )
    cid = (await web.post("/api/conversations", json={})).json()["id"]
    assert (
        await web.post(f"/api/conversations/{cid}/messages", json={"content": "web"})
    ).status_code == 429
    await client.close()


async def test_upstream_failure_mid_stream_is_an_error_not_an_empty_success(
    chat: Harness, fake: FakeUpstream
) -> None:
    client, _, _ = await _client(chat)
    fake.set_scenario("reset_mid_stream", after_tokens=3)
    stream = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
    await client.close()


async def test_an_api_key_cannot_be_used_with_a_wrong_header_form(chat: Harness) -> None:
    client, _, created = await _client(chat)
    base = await chat.serve()
    import httpx

    async with httpx.AsyncClient(base_url=base) as raw:
        no_bearer = await raw.get("/v1/models", headers={"x-api-key": created["key"]})
        assert no_bearer.status_code == 401
        bogus = await raw.get("/v1/models", headers={"authorization": "Bearer cg-not-a-real-key"})
        assert bogus.status_code == 401
        good = await raw.get("/v1/models", headers={"authorization": f"Bearer {created['key']}"})
        assert good.status_code == 200
    await client.close()
