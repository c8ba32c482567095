"""A reasoning model's thoughts stream apart from the answer, are stored beside it, replay on
re-attach, reach /v1 clients as `reasoning_content`, and are never sent back upstream."""

from __future__ import annotations

from typing import Any

import orjson

from tests.api.conftest import REPLY
from tests.conftest import Harness
from tests.fakes.upstream import SCENARIOS, FakeUpstream
from tests.support.streams import answer_text, data, events_of, reasoning_text

THOUGHTS = SCENARIOS["deepseek_reasoning"]["reasoning"]


async def _send(client: Any, cid: str, content: str) -> list[Any]:
    response = await client.post(
        f"/api/conversations/{cid}/messages", json={"content": content, "model": "fake-model"}
    )
    return events_of(response)


async def test_reasoning_streams_apart_is_stored_and_is_not_sent_back(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.set_scenario("deepseek_reasoning")
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    events = await _send(alice, cid, "Which is larger, 9.8 or 9.11?")
    assert data(events[-1]) == {"status": "complete"}, events[-3:]
    kinds = [e.event for e in events]
    assert kinds.index("reasoning") < kinds.index("delta"), "thinking comes first"
    assert reasoning_text(events) == THOUGHTS
    assert answer_text(events) == REPLY  # nothing of the thinking leaks into the answer

    answer = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert answer["reasoning"] == THOUGHTS and answer["content"] == REPLY

    # The second turn: DeepSeek answers 400 if reasoning_content comes back in the history.
    events = await _send(alice, cid, "And 9.9?")
    assert data(events[-1]) == {"status": "complete"}, events[-3:]
    history = fake.requests[-1].json["messages"]
    assert all("reasoning_content" not in m for m in history)
    assert not any(THOUGHTS in orjson.dumps(m).decode() for m in history)


async def test_a_tab_that_re_attaches_gets_the_reasoning_again(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.set_scenario("deepseek_reasoning")
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    events = await _send(alice, cid, "think")
    answer_id = data(next(e for e in events if e.event == "start"))["message_id"]
    replay = events_of(await alice.get(f"/api/generations/{answer_id}/events"))
    assert reasoning_text(replay) == THOUGHTS and answer_text(replay) == REPLY


async def test_openai_clients_get_reasoning_content(chat: Harness, fake: FakeUpstream) -> None:
    fake.set_scenario("deepseek_reasoning")
    alice = await chat.user("alice")
    key = (await alice.post("/api/account/keys", json={"name": "t"})).json()["key"]
    api = await chat.client(headers={"authorization": f"Bearer {key}"})
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "think"}]}

    plain = (await api.post("/v1/chat/completions", json=body)).json()
    message = plain["choices"][0]["message"]
    assert message["reasoning_content"] == THOUGHTS and message["content"] == REPLY

    streamed = await api.post("/v1/chat/completions", json={**body, "stream": True})
    chunks = [
        orjson.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == THOUGHTS
    assert "".join(d.get("content") or "" for d in deltas) == REPLY
