"""Conversations: CRUD, pagination, search, and isolation between users."""

from __future__ import annotations

from datetime import timedelta

import httpx

from chatgate.db.models import Message
from chatgate.ids import new_id, utcnow
from tests.conftest import Harness


async def _seed_messages(
    harness: Harness, client: httpx.AsyncClient, conversation_id: str
) -> list[str]:
    """A small tree: q1 -> a1, q1 -> a1' (regenerated)."""
    me = (await client.get("/api/auth/me")).json()
    ids = [new_id() for _ in range(3)]
    # Times of their own: rows made in one go can share a microsecond, and then the order
    # would fall to the random part of their ids.
    at = [utcnow() + timedelta(milliseconds=n) for n in range(3)]
    rows = [
        Message(
            id=ids[0],
            conversation_id=conversation_id,
            user_id=me["id"],
            role="user",
            content="q1",
            created_at=at[0],
        ),
        Message(
            id=ids[1],
            conversation_id=conversation_id,
            user_id=me["id"],
            parent_id=ids[0],
            role="assistant",
            content="a1",
            created_at=at[1],
        ),
        Message(
            id=ids[2],
            conversation_id=conversation_id,
            user_id=me["id"],
            parent_id=ids[0],
            role="assistant",
            content="a1'",
            created_at=at[2],
        ),
    ]

    def insert(s) -> None:  # type: ignore[no-untyped-def]
        s.add_all(rows)

    await harness.services.db.write(insert)
    return ids


async def test_create_get_rename_delete(harness: Harness) -> None:
    alice = await harness.user("alice")
    created = await alice.post(
        "/api/conversations", json={"settings": {"temperature": 0.3, "context_messages": 4}}
    )
    assert created.status_code == 201
    conversation = created.json()
    assert conversation["title"] == "New chat"
    assert conversation["settings"]["temperature"] == 0.3
    assert conversation["settings"]["context_messages"] == 4
    assert conversation["settings"]["model"] is None

    renamed = await alice.patch(
        f"/api/conversations/{conversation['id']}", json={"title": "Trip to 京都"}
    )
    assert renamed.json()["title"] == "Trip to 京都"
    assert renamed.json()["settings"]["temperature"] == 0.3

    reset = await alice.patch(
        f"/api/conversations/{conversation['id']}", json={"settings": {"temperature": None}}
    )
    assert reset.json()["settings"]["temperature"] is None
    assert reset.json()["settings"]["context_messages"] == 4

    assert (await alice.delete(f"/api/conversations/{conversation['id']}")).status_code == 204
    assert (await alice.get(f"/api/conversations/{conversation['id']}")).status_code == 404


async def test_list_is_newest_first_paginated_and_searchable(harness: Harness) -> None:
    alice = await harness.user("alice")
    titles = [f"chat {i:02d}" for i in range(7)] + ["Recipe for 饺子", "recipe for bread"]
    for title in titles:
        await alice.post("/api/conversations", json={"title": title})

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await alice.get("/api/conversations", params=params)).json()
        seen += [c["title"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(titles))

    found = (await alice.get("/api/conversations", params={"q": "RECIPE"})).json()["items"]
    assert sorted(c["title"] for c in found) == ["Recipe for 饺子", "recipe for bread"]
    assert (await alice.get("/api/conversations", params={"q": "100%"})).json()["items"] == []


async def test_messages_come_as_a_tree_or_one_branch(harness: Harness) -> None:
    alice = await harness.user("alice")
    conversation = (await alice.post("/api/conversations", json={})).json()
    q1, a1, a2 = await _seed_messages(harness, alice, conversation["id"])

    tree = (await alice.get(f"/api/conversations/{conversation['id']}/messages")).json()
    assert [m["id"] for m in tree["messages"]] == [q1, a1, a2]
    assert tree["messages"][1]["parent_id"] == q1

    branch = (
        await alice.get(f"/api/conversations/{conversation['id']}/messages", params={"leaf": a2})
    ).json()
    assert [m["content"] for m in branch["messages"]] == ["q1", "a1'"]

    moved = await alice.patch(
        f"/api/conversations/{conversation['id']}", json={"current_leaf_id": a1}
    )
    assert moved.json()["current_leaf_id"] == a1


async def test_another_users_conversation_is_404_everywhere(harness: Harness) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    conversation = (await alice.post("/api/conversations", json={"title": "secret plans"})).json()
    cid = conversation["id"]
    q1, _, _ = await _seed_messages(harness, alice, cid)

    attempts = [
        await bob.get(f"/api/conversations/{cid}"),
        await bob.patch(f"/api/conversations/{cid}", json={"title": "pwned"}),
        await bob.delete(f"/api/conversations/{cid}"),
        await bob.get(f"/api/conversations/{cid}/messages"),
        await bob.get(f"/api/conversations/{cid}/messages", params={"leaf": q1}),
    ]
    for response in attempts:
        assert response.status_code == 404, response.request.url
        assert response.json()["error"]["code"] == "not_found"
    assert (await bob.get("/api/conversations")).json()["items"] == []

    bobs = (await bob.post("/api/conversations", json={})).json()
    foreign_leaf = await bob.patch(f"/api/conversations/{bobs['id']}", json={"current_leaf_id": q1})
    assert foreign_leaf.status_code == 404

    still = (await alice.get(f"/api/conversations/{cid}")).json()
    assert still["title"] == "secret plans"
    assert len((await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"]) == 3


async def test_owner_fields_in_bodies_are_ignored(harness: Harness) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    bob_id = (await bob.get("/api/auth/me")).json()["id"]
    created = await alice.post(
        "/api/conversations", json={"title": "x", "user_id": bob_id, "owner": bob_id}
    )
    assert created.status_code == 201
    assert (await bob.get("/api/conversations")).json()["items"] == []
    assert len((await alice.get("/api/conversations")).json()["items"]) == 1
