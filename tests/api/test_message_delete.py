"""Deleting one message: an answer alone, or a question with the answers (and later turns)
below it; exactly that goes, the branch on screen moves to what survives, a running answer in
the deleted part is stopped first, and another person's messages are not found."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import REPLY
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import data, events_of, iter_events


async def _ask(client: httpx.AsyncClient, cid: str, text: str, **body: Any) -> tuple[str, str]:
    """(question id, answer id) of a new exchange."""
    events = events_of(
        await client.post(f"/api/conversations/{cid}/messages", json={"content": text, **body})
    )
    start = data(events[0])
    return start["user_message_id"], start["message_id"]


async def _regenerate(client: httpx.AsyncClient, cid: str, question: str) -> str:
    events = events_of(
        await client.post(f"/api/conversations/{cid}/messages/{question}/regenerate")
    )
    return str(data(events[0])["message_id"])


async def _tree(client: httpx.AsyncClient, cid: str) -> tuple[dict[str, Any], str | None]:
    body = (await client.get(f"/api/conversations/{cid}/messages")).json()
    return {m["id"]: m for m in body["messages"]}, body["current_leaf_id"]


async def _conversation(client: httpx.AsyncClient) -> str:
    return str((await client.post("/api/conversations", json={})).json()["id"])


async def test_deleting_an_answer_removes_it_alone_and_shows_its_sibling(chat: Harness) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    q1, a1 = await _ask(alice, cid, "first question")
    a1b = await _regenerate(alice, cid, q1)
    q2, a2 = await _ask(alice, cid, "second question")  # below a1b, the current branch
    before, leaf = await _tree(alice, cid)
    assert leaf == a2

    response = await alice.delete(f"/api/conversations/{cid}/messages/{a2}")
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": [a2], "current_leaf_id": q2}
    after, leaf = await _tree(alice, cid)
    assert set(after) == set(before) - {a2}
    assert leaf == q2  # the question stays, waiting for a new answer
    assert (await alice.get(f"/api/conversations/{cid}")).json()["current_leaf_id"] == q2

    # The answer whose branch goes on: it and the turn below it go; the view moves to a1.
    response = await alice.delete(f"/api/conversations/{cid}/messages/{a1b}")
    assert response.json() == {"deleted": [a1b, q2], "current_leaf_id": a1}
    after, leaf = await _tree(alice, cid)
    assert set(after) == {q1, a1} and leaf == a1
    assert after[a1]["content"] == REPLY


async def test_deleting_a_question_takes_its_answers_and_everything_below(chat: Harness) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    q1, a1 = await _ask(alice, cid, "keep me")
    q2, a2 = await _ask(alice, cid, "delete me")
    a2b = await _regenerate(alice, cid, q2)
    q3, a3 = await _ask(alice, cid, "below the second answer")
    before, _ = await _tree(alice, cid)

    response = await alice.delete(f"/api/conversations/{cid}/messages/{q2}")
    assert response.status_code == 200
    deleted = response.json()["deleted"]
    assert deleted[0] == q2 and set(deleted) == {q2, a2, a2b, q3, a3}
    assert response.json()["current_leaf_id"] == a1
    after, leaf = await _tree(alice, cid)
    assert set(after) == set(before) - set(deleted) == {q1, a1}
    assert leaf == a1

    # A reload of the conversation (as the web app does) shows the same.
    conversation = (await alice.get(f"/api/conversations/{cid}")).json()
    assert conversation["current_leaf_id"] == a1
    # The conversation goes on from there.
    q4, _ = await _ask(alice, cid, "after the deletion")
    assert (await _tree(alice, cid))[0][q4]["parent_id"] == a1

    # The first question: the conversation is empty, with no current leaf.
    response = await alice.delete(f"/api/conversations/{cid}/messages/{q1}")
    assert response.json()["current_leaf_id"] is None
    assert await _tree(alice, cid) == ({}, None)
    assert (await alice.get(f"/api/conversations/{cid}")).status_code == 200


async def test_an_edited_question_falls_back_to_its_earlier_version(chat: Harness) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    q1, a1 = await _ask(alice, cid, "original")
    q1b, a1b = await _ask(alice, cid, "edited", parent_id=None)  # edit-and-resend of the first
    response = await alice.delete(f"/api/conversations/{cid}/messages/{q1b}")
    assert response.json() == {"deleted": [q1b, a1b], "current_leaf_id": a1}
    assert set((await _tree(alice, cid))[0]) == {q1, a1}


async def test_deleting_off_the_current_branch_keeps_the_view(chat: Harness) -> None:
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    q1, a1 = await _ask(alice, cid, "question")
    a1b = await _regenerate(alice, cid, q1)
    response = await alice.delete(f"/api/conversations/{cid}/messages/{a1}")
    assert response.json() == {"deleted": [a1], "current_leaf_id": a1b}
    assert (await _tree(alice, cid))[1] == a1b


async def test_another_persons_message_is_not_found_and_stays(chat: Harness) -> None:
    alice, bob = await chat.user("alice"), await chat.user("bob")
    cid = await _conversation(alice)
    q1, a1 = await _ask(alice, cid, "mine")
    bobs = await _conversation(bob)
    bobs_question, bobs_answer = await _ask(bob, bobs, "bob's")
    for url in (
        f"/api/conversations/{cid}/messages/{a1}",  # Alice's, asked by Bob
        f"/api/conversations/{bobs}/messages/{a1}",  # Alice's message through Bob's conversation
    ):
        assert (await bob.delete(url)).status_code == 404
    # Bob's message through Alice's conversation, and ids that do not exist.
    assert (
        await alice.delete(f"/api/conversations/{cid}/messages/{bobs_answer}")
    ).status_code == 404
    assert (await alice.delete(f"/api/conversations/{cid}/messages/{'0' * 32}")).status_code == 404
    assert (await alice.delete(f"/api/conversations/{cid}/messages/not-an-id")).status_code == 422
    assert set((await _tree(alice, cid))[0]) == {q1, a1}
    assert set((await _tree(bob, bobs))[0]) == {bobs_question, bobs_answer}


async def test_a_running_answer_in_the_deleted_part_is_stopped_first(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.set_scenario("normal", token_delay=0.2)
    alice = await chat.user("alice")
    cid = await _conversation(alice)
    remote = await chat.remote_user(alice)
    events, deleted = [], None
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "a long answer"}
    ) as response:
        async for event in iter_events(response):
            events.append(event)
            if event.event == "start":
                question = data(event)["user_message_id"]
                answer = data(event)["message_id"]
            if event.event == "delta" and deleted is None:
                deleted = await alice.delete(f"/api/conversations/{cid}/messages/{question}")
                assert deleted.status_code == 200, deleted.text
                assert deleted.json() == {"deleted": [question, answer], "current_leaf_id": None}
    # The stream ended (the generation was stopped, not left running upstream).
    assert events[-1].event == "done" and data(events[-1]) == {"status": "stopped"}
    assert fake.requests[-1].closed_by_client_at is not None
    assert not chat.services.generations.is_running(answer)
    await asyncio.sleep(0.3)  # nothing writes the deleted answer back
    assert await _tree(alice, cid) == ({}, None)
