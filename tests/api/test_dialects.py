"""Every dialect, through the whole server: a chat message answered by a recorded transcript of a
real service (tests/fakes/dialects), replayed on a loopback socket as the service sends it, and
again cut into pieces of 1-8 bytes (inside ``data:`` and inside multi-byte characters).

For each: the request is what the service accepts (the transcript answers like the service
would, with its own 4xx, when it is not), the streamed text is the stored text byte for byte,
the reasoning streams and is stored apart from it, the final status and error code are right,
and the usage the service reported is what the ledger holds (ChatGate's own estimate when the
service reported none). Runs on SQLite and, with TEST_DATABASE_URL/TEST_REDIS_URL, on
PostgreSQL + Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.conftest import Harness
from tests.fakes.dialects import API_KEY, DIALECTS, Seen, Transcript, params
from tests.fakes.upstream import FakeUpstream, RecordedRequest
from tests.support.streams import answer_text, data, events_of, reasoning_text

MODEL_ID = "conformance"
QUESTION = "Réponds, s'il te plaît 🙏"
CUTS: dict[str, tuple[int, ...]] = {"events": (), "bytes": (1, 2, 3, 5, 8)}


def provider_config(transcript: Transcript, fake: FakeUpstream) -> dict[str, Any]:
    return {
        "name": "svc",
        "kind": transcript.kind,
        "base_url": f"{fake.base_url}{transcript.base_path}",
        "models": [{"id": MODEL_ID, "upstream": transcript.model}],
        "credentials": [{"api_key": API_KEY}],
        **transcript.provider,
    }


async def _harness(
    make_harness: Callable[..., Any], fake: FakeUpstream, transcript: Transcript
) -> Harness:
    harness: Harness = await make_harness(
        providers=[provider_config(transcript, fake)],
        default_model=MODEL_ID,
        upstream_retries=0,
    )
    return harness


def refusals(transcript: Transcript, fake: FakeUpstream) -> list[str]:
    """What the service said to each request it refused (empty: it served them all)."""
    said = []
    for record in fake.requests:
        if record.scenario == "bad_request":
            said.append(f"{record.status} {_refusal(transcript, record)}")
    return said


def _refusal(transcript: Transcript, record: RecordedRequest) -> str:
    seen = Seen.of(record.method, record.path, record.query, record.headers, record.json)
    refusal = transcript.refuse(seen)
    return orjson.dumps(refusal[1]).decode() if refusal else "?"


async def _send(client: Any, cid: str, content: str = QUESTION) -> list[Any]:
    response = await client.post(
        f"/api/conversations/{cid}/messages", json={"content": content, "model": MODEL_ID}
    )
    return events_of(response)


async def _last_message(client: Any, cid: str) -> dict[str, Any]:
    messages = (await client.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    message: dict[str, Any] = messages[-1]
    return message


@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("name", params(run_gaps=False))
async def test_a_chat_message_through_each_dialect(
    make_harness: Callable[..., Any], fake: FakeUpstream, name: str, cut: str
) -> None:
    transcript = DIALECTS[name]
    harness = await _harness(make_harness, fake, transcript)
    fake.set_scenario("dialect", name=name, chunk_sizes=CUTS[cut])
    alice = await harness.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]

    events = await _send(alice, cid)
    stored = await _last_message(alice, cid)

    assert not refusals(transcript, fake), f"{name} refused ChatGate's request"
    assert fake.calls() == 1
    assert data(events[-1]) == {"status": transcript.final}, events[-3:]
    assert answer_text(events) == stored["content"] == transcript.text
    assert reasoning_text(events) == stored["reasoning"] == transcript.reasoning
    assert stored["status"] == transcript.final
    if transcript.final == "error":
        error = data(next(e for e in events if e.event == "error"))
        assert error["code"] == stored["error"]["code"] == transcript.error_code
    else:
        assert not [e for e in events if e.event == "error"]
        assert stored["finish_reason"] == transcript.finish

    prompt, completion, estimated = await harness.sql(
        "SELECT prompt_tokens, completion_tokens, estimated FROM usage"
    )
    if transcript.usage is not None:
        assert (prompt, completion, bool(estimated)) == (*transcript.usage, False)
    elif transcript.final == "complete":
        assert bool(estimated) and completion > 0  # ChatGate counted what the service did not


async def test_deepseek_second_turn_sends_no_reasoning_back(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    """DeepSeek refuses a history carrying ``reasoning_content`` (400); the second turn works."""
    transcript = DIALECTS["deepseek"]
    harness = await _harness(make_harness, fake, transcript)
    fake.set_scenario("dialect", name="deepseek")
    alice = await harness.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    await _send(alice, cid)

    events = await _send(alice, cid, "Et 9.9 ?")

    assert not refusals(transcript, fake), "DeepSeek refused the second turn"
    assert data(events[-1]) == {"status": "complete"}
    history = fake.requests[-1].json["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1] == {"role": "assistant", "content": transcript.text}
    assert transcript.reasoning not in orjson.dumps(history).decode()


@pytest.mark.parametrize("name", ["chatgpt_web", "anthropic"])
async def test_a_second_turn_is_accepted_by_the_other_protocols(
    make_harness: Callable[..., Any], fake: FakeUpstream, name: str
) -> None:
    transcript = DIALECTS[name]
    harness = await _harness(make_harness, fake, transcript)
    fake.set_scenario("dialect", name=name)
    fake.strict_conversations = False  # the transcript itself checks the ids of a follow-up
    alice = await harness.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    await _send(alice, cid)
    events = await _send(alice, cid, "Encore ?")
    assert not refusals(transcript, fake)
    assert data(events[-1]) == {"status": "complete"}
    if name == "chatgpt_web":  # continued upstream, from the ids the first answer handed over
        assert fake.requests[-1].json.get("conversation_id")
    assert transcript.reasoning == "" or transcript.reasoning not in orjson.dumps(
        fake.requests[-1].json
    ).decode("utf-8")
