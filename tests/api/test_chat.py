"""Sending a message and receiving the answer as a stream, from every kind of upstream."""

from __future__ import annotations

import pytest

from tests.api.conftest import MODELS, REPLY
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of, kinds


async def _conversation(client, **settings) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/conversations", json={"settings": settings} if settings else {}
    )
    return str(response.json()["id"])


@pytest.mark.parametrize("kind", sorted(MODELS))
async def test_answer_streams_and_is_stored_byte_for_byte(
    chat: Harness, fake: FakeUpstream, kind: str
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    response = await alice.post(
        f"/api/conversations/{cid}/messages", json={"content": "Hi 👋", "model": MODELS[kind]}
    )
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache, no-transform"
    assert "content-encoding" not in response.headers
    events = events_of(response)
    assert kinds(events)[0] == "start" and kinds(events)[-1] == "done"
    assert data(events[-1]) == {"status": "complete"}
    deltas = [e for e in events if e.event == "delta"]
    assert len(deltas) > 5, "the answer must arrive in pieces"
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
    assert answer_text(events) == REPLY

    start = data(events[0])
    stored = (await alice.get(f"/api/conversations/{cid}/messages")).json()
    by_id = {m["id"]: m for m in stored["messages"]}
    assert by_id[start["user_message_id"]]["content"] == "Hi 👋"
    answer = by_id[start["message_id"]]
    assert answer["content"] == REPLY
    assert answer["content"].encode() == "".join(data(e)["text"] for e in deltas).encode()
    assert answer["status"] == "complete"
    assert answer["model"] == MODELS[kind]
    assert stored["current_leaf_id"] == start["message_id"]


async def test_delta_events_carry_only_the_new_text_unescaped(chat: Harness) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    response = await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Hi"})
    assert "你好".encode() in response.content
    assert b"\\u4f60" not in response.content
    deltas = [e for e in events_of(response) if e.event == "delta"]
    assert max(len(data(e)["text"]) for e in deltas) < len(REPLY) / 3


async def test_usage_is_reported_and_stored(chat: Harness, fake: FakeUpstream) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    events = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Count me"})
    )
    usage = data(next(e for e in events if e.event == "usage"))
    recorded = fake.requests[-1]
    assert usage["completion_tokens"] == recorded.tokens_sent
    stored = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert stored["completion_tokens"] == recorded.tokens_sent
    assert stored["prompt_tokens"] == usage["prompt_tokens"]


async def test_the_first_message_titles_the_conversation(chat: Harness) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    events = events_of(
        await alice.post(
            f"/api/conversations/{cid}/messages", json={"content": "Plan a trip to 京都\nin May"}
        )
    )
    assert data(next(e for e in events if e.event == "title")) == {"title": "Plan a trip to 京都"}
    assert (await alice.get(f"/api/conversations/{cid}")).json()["title"] == "Plan a trip to 京都"
    again = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Another"})
    )
    assert "title" not in kinds(again)


async def test_second_message_carries_the_first_exchange(chat: Harness, fake: FakeUpstream) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice, system_prompt="You are terse.")
    await alice.post(f"/api/conversations/{cid}/messages", json={"content": "First question"})
    await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Second question"})
    sent = fake.requests[-1].json["messages"]
    assert sent == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "Second question"},
    ]


async def test_context_size_leaves_older_turns_out(chat: Harness, fake: FakeUpstream) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice, context_messages=2)
    for n in range(4):
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": f"question {n}"})
    sent = fake.requests[-1].json["messages"]
    assert [m["content"] for m in sent] == ["question 2", REPLY, "question 3"]

    await alice.patch(f"/api/conversations/{cid}", json={"settings": {"context_messages": 0}})
    await alice.post(f"/api/conversations/{cid}/messages", json={"content": "alone"})
    assert fake.requests[-1].json["messages"] == [{"role": "user", "content": "alone"}]


async def test_a_long_conversation_is_trimmed_to_the_model_window(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice, context_messages=10_000, model="tiny-window")
    fake.reply = "ok"
    for n in range(250):
        await alice.post(
            f"/api/conversations/{cid}/messages",
            json={"content": f"message number {n} " + "word " * 20},
        )
    stored = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    assert len(stored) == 500
    sent = fake.requests[-1].json["messages"]
    assert 2 < len(sent) < 100
    assert sent[-1]["content"].startswith("message number 249")
    assert sum(len(m["content"]) for m in sent) < 1200 * 4


async def test_chatgpt_web_context_is_the_upstream_conversation(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice, model="web-fake")
    await alice.post(f"/api/conversations/{cid}/messages", json={"content": "one"})
    first = fake.requests[-1].json
    assert "conversation_id" not in first
    await alice.post(f"/api/conversations/{cid}/messages", json={"content": "two"})
    second = fake.requests[-1].json
    assert [m["content"]["parts"] for m in second["messages"]] == [["two"]]
    turns = next(iter(fake.conversations.values()))
    assert second["conversation_id"] in fake.conversations
    assert second["parent_message_id"] == turns[0].assistant_message_id


async def test_regenerate_adds_a_sibling_answer(chat: Harness, fake: FakeUpstream) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    first = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Tell me a joke"})
    )
    answer_id = data(first[0])["message_id"]
    fake.reply = "A different joke."
    again = events_of(await alice.post(f"/api/conversations/{cid}/messages/{answer_id}/regenerate"))
    assert answer_text(again) == "A different joke."
    new_id = data(again[0])["message_id"]
    messages = (await alice.get(f"/api/conversations/{cid}/messages")).json()
    by_id = {m["id"]: m for m in messages["messages"]}
    assert by_id[new_id]["parent_id"] == by_id[answer_id]["parent_id"]
    assert messages["current_leaf_id"] == new_id
    assert fake.requests[-1].json["messages"] == [{"role": "user", "content": "Tell me a joke"}]


async def test_edit_and_resend_branches_from_the_earlier_answer(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    first = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "q1"})
    )
    a1 = data(first[0])["message_id"]
    second = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "q2"})
    )
    q2 = data(second[0])["user_message_id"]
    edited = events_of(
        await alice.post(
            f"/api/conversations/{cid}/messages", json={"content": "q2 edited", "parent_id": a1}
        )
    )
    q2b = data(edited[0])["user_message_id"]
    messages = {
        m["id"]: m
        for m in (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    }
    assert messages[q2b]["parent_id"] == messages[q2]["parent_id"] == a1
    assert [m["content"] for m in fake.requests[-1].json["messages"]] == ["q1", REPLY, "q2 edited"]

    root = events_of(
        await alice.post(
            f"/api/conversations/{cid}/messages", json={"content": "new first", "parent_id": None}
        )
    )
    assert messages.get(data(root[0])["user_message_id"]) is None
    tree = {
        m["id"]: m
        for m in (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    }
    assert tree[data(root[0])["user_message_id"]]["parent_id"] is None


async def test_continue_extends_a_stopped_answer_in_place(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    fake.set_scenario("reset_mid_stream", after_tokens=3)
    cut = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Write a poem"})
    )
    answer_id = data(cut[0])["message_id"]
    partial = answer_text(cut)
    assert partial and data(cut[-1])["status"] == "error"

    fake.set_scenario("normal")
    fake.reply = " and the rest."
    more = events_of(await alice.post(f"/api/conversations/{cid}/messages/{answer_id}/continue"))
    assert data(more[0])["message_id"] == answer_id
    assert answer_text(more) == partial + " and the rest."
    assert fake.requests[-1].json["messages"][-1] == {"role": "assistant", "content": partial}
    stored = {
        m["id"]: m
        for m in (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    }
    assert stored[answer_id]["content"] == partial + " and the rest."
    assert stored[answer_id]["status"] == "complete"
    assert stored[answer_id]["error"] is None


async def test_models_lists_what_is_configured(chat: Harness) -> None:
    alice = await chat.user("alice")
    models = (await alice.get("/api/models")).json()
    assert models["default"] == "fake-model"
    assert {m["id"] for m in models["models"]} == {
        "fake-model",
        "tiny-window",
        "claude-fake",
        "web-fake",
    }
    assert "sk-" not in str(models)
    assert models["bundled_demo"] is False


async def test_unknown_model_and_empty_message_are_refused_before_any_upstream_call(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    unknown = await alice.post(
        f"/api/conversations/{cid}/messages", json={"content": "hi", "model": "gpt-99"}
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "model_unavailable"
    empty = await alice.post(f"/api/conversations/{cid}/messages", json={"content": "   "})
    assert empty.status_code == 400
    assert fake.calls() == 0
    assert (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"] == []


async def test_an_answer_cut_by_max_tokens_says_so_and_can_be_continued(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice, max_tokens=3)
    events = events_of(
        await alice.post(f"/api/conversations/{cid}/messages", json={"content": "Long please"})
    )
    answer = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert answer["finish_reason"] == "length" and answer["status"] == "complete"
    assert fake.requests[-1].json["max_tokens"] == 3
    await alice.patch(f"/api/conversations/{cid}", json={"settings": {"max_tokens": None}})
    more = events_of(await alice.post(f"/api/conversations/{cid}/messages/{answer['id']}/continue"))
    assert answer_text(more).startswith(answer_text(events))
    again = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    assert again["finish_reason"] == "stop"
