"""The sidebar list and a conversation's messages are sent as JSON made straight from rows
(db/repos/conversation_reads.py): the same fields and values the pydantic models give, the same
pages, branches and 404s, and one statement per page or conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from chatgate.api.conversations import conversation_out, message_out
from chatgate.db.core import CONVERSATIONS
from chatgate.db.models import Message
from chatgate.ids import new_id
from tests.conftest import Harness

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)  # whole seconds: pydantic writes no fraction


async def _me(client: httpx.AsyncClient) -> str:
    return str((await client.get("/api/auth/me")).json()["id"])


async def _conversation(client: httpx.AsyncClient, **body: Any) -> str:
    return str((await client.post("/api/conversations", json=body)).json()["id"])


async def _insert(harness: Harness, *messages: Message) -> None:
    def insert(s: Any) -> None:
        s.add_all(messages)

    await harness.services.db.write(insert)


async def _set_conversation(harness: Harness, conversation_id: str, **values: Any) -> None:
    def update(s: Any) -> None:
        s.execute(
            sa.update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(**values)
        )

    await harness.services.db.write(update)


def _same(sent: Any, expected: Any) -> None:
    # Through json.dumps: key order and 1 against 1.0 count, as they would for a client.
    assert json.dumps(sent, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL statements every engine runs meanwhile that read conversations or messages."""
    seen: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if " conversations" in statement or " messages" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_messages_are_sent_as_the_models_would_send_them(harness: Harness) -> None:
    alice = await harness.user("alice")
    user_id = await _me(alice)
    cid = await _conversation(alice, title="Trip to 京都")
    q, a_error, a_reasoning, a_stopped, a_live = (new_id() for _ in range(5))
    common = {"conversation_id": cid, "user_id": user_id}
    await _insert(
        harness,
        Message(id=q, role="user", content="Where? 🌍", created_at=T0, updated_at=T0, **common),
        Message(
            id=a_error,
            parent_id=q,
            role="assistant",
            content="partial",
            status="error",
            model="fake-model",
            error_code="upstream_error",
            error_message=None,  # no message stored: sent as ""
            created_at=T0 + timedelta(seconds=1),
            updated_at=T0 + timedelta(seconds=1, microseconds=250_000),
            **common,
        ),
        Message(
            id=a_reasoning,
            parent_id=q,
            role="assistant",
            content="Kyoto.",
            reasoning="They said 京都.",
            model="fake-model",
            finish_reason="length",
            prompt_tokens=12,
            completion_tokens=3,
            created_at=T0 + timedelta(seconds=2, microseconds=1),
            updated_at=T0 + timedelta(seconds=3),
            **common,
        ),
        Message(
            id=a_stopped,
            parent_id=q,
            role="assistant",
            content="Ky",
            status="stopped",
            finish_reason="stop",
            created_at=T0 + timedelta(seconds=4),
            updated_at=T0 + timedelta(seconds=4),
            **common,
        ),
        Message(
            id=a_live,
            parent_id=q,
            role="assistant",
            content="",
            status="streaming",
            created_at=T0 + timedelta(seconds=5),
            updated_at=T0 + timedelta(seconds=5),
            **common,
        ),
    )
    # Settings as an import or an older version may have stored them: an int where a float is
    # declared, keys ChatGate does not know, a null for a setting with a default.
    settings = {"temperature": 1, "top_p": 0, "max_tokens": 64, "system_prompt": None, "x": 1}
    await _set_conversation(harness, cid, settings=settings, current_leaf_id=a_reasoning)

    response = await alice.get(f"/api/conversations/{cid}/messages")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    messages, leaf = await harness.services.conversations.messages(user_id, cid)
    _same(
        response.json(),
        {
            "messages": [message_out(m).model_dump(mode="json") for m in messages],
            "current_leaf_id": leaf,
        },
    )
    sent = response.json()["messages"]
    assert [m["id"] for m in sent] == [q, a_error, a_reasoning, a_stopped, a_live]
    assert sent[1]["error"] == {"code": "upstream_error", "message": ""}
    assert sent[0]["created_at"] == "2026-03-04T05:06:07Z"
    assert sent[1]["updated_at"] == "2026-03-04T05:06:08.250000Z"

    one = (await alice.get(f"/api/conversations/{cid}")).json()
    conversation = await harness.services.conversations.get(user_id, cid)
    _same(one, conversation_out(conversation).model_dump(mode="json"))
    assert one["settings"]["temperature"] == 1.0
    assert one["settings"]["system_prompt"] == ""

    page = (await alice.get("/api/conversations")).json()
    _same(page, {"items": [one], "next_cursor": None})


async def test_pages_meet_without_gap_or_repeat_when_times_tie(harness: Harness) -> None:
    alice = await harness.user("alice")
    ids = [await _conversation(alice, title=f"chat {i}") for i in range(7)]
    # Five share one updated_at: the page boundary falls inside the tie, ordered by id.
    for i, cid in enumerate(ids):
        when = T0 if i < 5 else T0 + timedelta(minutes=i)
        await _set_conversation(harness, cid, updated_at=when)
    expected = [ids[6], ids[5], *sorted(ids[:5], reverse=True)]

    for limit in (1, 2, 3, 6, 7):
        seen: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        for _ in range(len(ids) + 1):  # a cursor that does not move on must not loop forever
            page = (await alice.get("/api/conversations", params=params)).json()
            assert len(page["items"]) <= limit
            seen += [c["id"] for c in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == expected, limit

    # Exactly a page's worth: no cursor to an empty page.
    whole = (await alice.get("/api/conversations", params={"limit": 7})).json()
    assert whole["next_cursor"] is None
    full = (await alice.get("/api/conversations", params={"limit": 6})).json()
    last = (await alice.get("/api/conversations", params={"cursor": full["next_cursor"]})).json()
    assert [c["id"] for c in last["items"]] == expected[6:]
    assert last["next_cursor"] is None


async def test_search_pages_through_matching_titles_only(harness: Harness) -> None:
    alice = await harness.user("alice")
    for i in range(5):
        await _conversation(alice, title=f"Recipe {i}" if i % 2 == 0 else f"Other {i}")
    first = (await alice.get("/api/conversations", params={"q": "recipe", "limit": 2})).json()
    rest = (
        await alice.get(
            "/api/conversations", params={"q": "recipe", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    titles = [c["title"] for c in first["items"] + rest["items"]]
    assert sorted(titles) == ["Recipe 0", "Recipe 2", "Recipe 4"]
    assert rest["next_cursor"] is None


async def test_branches_empty_conversations_and_deleted_messages(harness: Harness) -> None:
    alice = await harness.user("alice")
    user_id = await _me(alice)
    cid = await _conversation(alice)
    empty = await alice.get(f"/api/conversations/{cid}/messages")
    assert empty.json() == {"messages": [], "current_leaf_id": None}

    q1, a1, a1b, q2, a2 = (new_id() for _ in range(5))
    common = {"conversation_id": cid, "user_id": user_id, "updated_at": T0}
    await _insert(
        harness,
        Message(id=q1, role="user", content="q1", created_at=T0, **common),
        Message(id=a1, parent_id=q1, role="assistant", content="a1", created_at=T0, **common),
        Message(id=a1b, parent_id=q1, role="assistant", content="a1b", created_at=T0, **common),
        Message(id=q2, parent_id=a1b, role="user", content="q2", created_at=T0, **common),
        Message(id=a2, parent_id=q2, role="assistant", content="a2", created_at=T0, **common),
    )
    await _set_conversation(harness, cid, current_leaf_id=a2)
    url = f"/api/conversations/{cid}/messages"

    tree = (await alice.get(url)).json()
    # Equal times: the id breaks the tie, as before.
    assert [m["id"] for m in tree["messages"]] == sorted([q1, a1, a1b, q2, a2])
    assert tree["current_leaf_id"] == a2
    branch = (await alice.get(url, params={"leaf": a2})).json()
    assert [m["content"] for m in branch["messages"]] == ["q1", "a1b", "q2", "a2"]
    assert branch["current_leaf_id"] == a2  # the conversation's, whichever branch is asked for
    other = (await alice.get(url, params={"leaf": a1})).json()
    assert [m["content"] for m in other["messages"]] == ["q1", "a1"]

    deleted = await alice.delete(f"/api/conversations/{cid}/messages/{a1b}")
    assert deleted.status_code == 200, deleted.text
    after = (await alice.get(url)).json()
    assert [m["id"] for m in after["messages"]] == sorted([q1, a1])
    assert after["current_leaf_id"] == deleted.json()["current_leaf_id"]
    assert (await alice.get(url, params={"leaf": a2})).status_code == 404


async def test_another_persons_or_a_missing_conversation_is_not_found(harness: Harness) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    alices = await _conversation(alice, title="secret")
    bobs = await _conversation(bob)
    q = new_id()
    await _insert(
        harness,
        Message(id=q, conversation_id=alices, user_id=await _me(alice), role="user", content="x"),
    )
    for path, params in [
        (f"/api/conversations/{alices}", {}),
        (f"/api/conversations/{alices}/messages", {}),
        (f"/api/conversations/{alices}/messages", {"leaf": q}),
        (f"/api/conversations/{new_id()}", {}),
        (f"/api/conversations/{new_id()}/messages", {}),
        # Bob's own conversation with a leaf of Alice's: not in this conversation.
        (f"/api/conversations/{bobs}/messages", {"leaf": q}),
    ]:
        response = await bob.get(path, params=params)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert [c["id"] for c in (await bob.get("/api/conversations")).json()["items"]] == [bobs]


async def test_one_statement_per_page_and_per_conversation(harness: Harness) -> None:
    alice = await harness.user("alice")
    user_id = await _me(alice)
    ids = [await _conversation(alice) for _ in range(4)]
    await _insert(
        harness,
        *(
            Message(conversation_id=cid, user_id=user_id, role="user", content=str(i))
            for i, cid in enumerate(ids)
            for _ in range(3)
        ),
    )
    first = (await alice.get("/api/conversations", params={"limit": 2})).json()
    for path, params in [
        ("/api/conversations", {"limit": 2}),
        ("/api/conversations", {"limit": 2, "cursor": first["next_cursor"]}),
        (f"/api/conversations/{ids[0]}", {}),
        (f"/api/conversations/{ids[0]}/messages", {}),
    ]:
        with _statements() as seen:
            assert (await alice.get(path, params=params)).status_code == 200
        assert len(seen) == 1, (path, seen)


async def test_times_stored_in_another_form_are_sent_as_before(harness: Harness) -> None:
    """Rows written by other tools (a hand-edited or older SQLite file) may store times without
    a fraction or with a "T": they are still sent as the models would send them."""
    alice = await harness.user("alice")
    user_id = await _me(alice)
    cid = await _conversation(alice)
    ids = [new_id() for _ in range(3)]
    await _insert(
        harness,
        *(Message(id=i, conversation_id=cid, user_id=user_id, role="user") for i in ids),
    )
    stamps = ["2026-03-04 05:06:07", "2026-03-04T05:06:08.5", "2026-03-04 05:06:09.000001"]

    def restamp(s: Any) -> None:
        for message_id, stamp in zip(ids, stamps, strict=True):
            s.execute(
                sa.text("UPDATE messages SET created_at = :at, updated_at = :at WHERE id = :id"),
                {"at": stamp, "id": message_id},
            )

    await harness.services.db.write(restamp)
    sent = (await alice.get(f"/api/conversations/{cid}/messages")).json()
    messages, leaf = await harness.services.conversations.messages(user_id, cid)
    expected = [message_out(m).model_dump(mode="json") for m in messages]
    _same(sent, {"messages": expected, "current_leaf_id": leaf})
    assert sorted(m["created_at"][:19] for m in sent["messages"]) == [
        "2026-03-04T05:06:07",
        "2026-03-04T05:06:08",
        "2026-03-04T05:06:09",
    ]
