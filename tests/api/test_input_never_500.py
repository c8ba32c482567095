"""Input that once gave 500 (and dropped the keep-alive connection) gets a 4xx in the one error
shape and changes nothing: crafted cursors, absurd `Last-Event-ID`s, import files with duplicate
ids, objects where strings belong, dates no calendar of ours can hold, NUL characters and
over-long names (PostgreSQL refuses those that SQLite would store)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def assert_error(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00|" + "a" * 32,
        "0001-01-01T00:00:00+14:00|" + "a" * 32,
        "9999-12-31T23:59:59-14:00|" + "a" * 32,
        "2024-01-01T00:00:00|" + "a" * 32,  # naive
        "2024-01-01T00:00:00+00:00|not-an-id",
        "2024-01-01T00:00:00+00:00",
        "|",
    ],
)
async def test_crafted_cursors_are_400(harness: Harness, raw: str) -> None:
    alice = await harness.user("alice")
    await alice.post("/api/conversations", json={"title": "one"})
    response = await alice.get("/api/conversations", params={"cursor": _cursor(raw)})
    assert_error(response, 400)


async def test_a_real_cursor_still_pages(harness: Harness) -> None:
    alice = await harness.user("alice")
    for n in range(3):
        await alice.post("/api/conversations", json={"title": f"c{n}"})
    first = (await alice.get("/api/conversations", params={"limit": 2})).json()
    rest = (
        await alice.get("/api/conversations", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    titles = [c["title"] for c in first["items"] + rest["items"]]
    assert titles == ["c2", "c1", "c0"] and rest["next_cursor"] is None


@pytest.mark.parametrize("value", ["9" * 5000, "1" * 40, "-1", "1e3", "abc", "١٢٣"])
async def test_absurd_last_event_ids_are_4xx(chat: Harness, fake: FakeUpstream, value: str) -> None:
    fake.set_scenario("normal")
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    sent = await alice.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
    generation = sent.text.split('"message_id":"', 1)[1][:32]
    response = await alice.get(
        f"/api/generations/{generation}/events", headers={b"Last-Event-ID": value.encode()}
    )
    assert_error(response, 400, 422)
    fine = await alice.get(f"/api/generations/{generation}/events", headers={"Last-Event-ID": "2"})
    assert fine.status_code == 200 and "event: done" in fine.text


def _own(messages: list[dict[str, Any]], **conversation: Any) -> bytes:
    return json.dumps(
        {
            "format": "chatgate",
            "version": 1,
            "conversations": [{"title": "t", "messages": messages, **conversation}],
        }
    ).encode()


def _official(message: dict[str, Any], **conversation: Any) -> bytes:
    node = {
        "id": "n1",
        "author": {"role": "user"},
        "content": {"content_type": "text", "parts": ["hello"]},
        "create_time": 1700000000.0,
        "metadata": {},
    }
    node.update(message)
    return json.dumps(
        [
            {
                "title": "t",
                "mapping": {"n1": {"id": "n1", "message": node, "parent": None, "children": []}},
                **conversation,
            }
        ]
    ).encode()


BAD_IMPORTS: dict[str, bytes] = {
    "duplicate message ids": _own(
        [
            {"id": "m1", "role": "user", "content": "a"},
            {"id": "m1", "role": "assistant", "content": "b"},
        ]
    ),
    "object as model_slug": _official({"metadata": {"model_slug": {"x": 1}}}),
    "list as model": _own([{"id": "m1", "role": "user", "content": "a", "model": ["x"]}]),
    "naive year-1 message date": _own(
        [{"id": "m1", "role": "user", "content": "a", "created_at": "0001-01-01T00:00:00"}]
    ),
    "naive year-1 conversation date": _own(
        [{"id": "m1", "role": "user", "content": "a"}], updated_at="0001-01-01T00:00:00"
    ),
    "year-1 with an offset": _own(
        [{"id": "m1", "role": "user", "content": "a", "created_at": "0001-01-01T00:00:00+05:00"}]
    ),
    "year 9999 west of UTC": _own(
        [{"id": "m1", "role": "user", "content": "a", "created_at": "9999-12-31T23:00:00-05:00"}]
    ),
    "NUL in a model name": _own([{"id": "m1", "role": "user", "content": "a", "model": "g\x00"}]),
    "201-character model name": _own(
        [{"id": "m1", "role": "user", "content": "a", "model": "m" * 201}]
    ),
    "201-character model_slug": _official({"metadata": {"model_slug": "m" * 201}}),
    "NUL in a model_slug": _official({"metadata": {"model_slug": "gpt\x00"}}),
    "lone surrogate in a model": b'{"format": "chatgate", "conversations": [{"messages": '
    b'[{"id": "m1", "role": "user", "model": "\\ud800"}]}]}',
}


@pytest.mark.parametrize("name", list(BAD_IMPORTS))
async def test_malformed_imports_are_400_and_import_nothing(harness: Harness, name: str) -> None:
    alice = await harness.user("alice")
    response = await alice.post(
        "/api/import", content=BAD_IMPORTS[name], headers={"content-type": "application/json"}
    )
    assert_error(response, 400)
    assert (await alice.get("/api/conversations")).json()["items"] == []
    # The connection is still usable (a 500 used to drop it).
    assert (await alice.get("/healthz")).status_code == 200


IMPORTS_THAT_STORE_CLEANED: dict[str, bytes] = {
    "NUL in titles and text": _own(
        [{"id": "m1", "role": "user", "content": "a\x00b"}], title="x\x00y"
    ),
    "NUL in settings": _own(
        [{"id": "m1", "role": "user", "content": "a"}],
        settings={"system_prompt": "be\x00kind", "model": "m\x00", "temperature": "hot"},
    ),
    "201-character model in settings": _own(
        [{"id": "m1", "role": "user", "content": "a"}], settings={"model": "m" * 201}
    ),
    "parent cycle": _own(
        [
            {"id": "a", "parent_id": "b", "role": "user", "content": "a"},
            {"id": "b", "parent_id": "a", "role": "assistant", "content": "b"},
        ]
    ),
    "child before parent": _own(
        [
            {"id": "b", "parent_id": "a", "role": "assistant", "content": "b"},
            {"id": "a", "role": "user", "content": "a"},
        ],
        current_leaf_id="b",
    ),
    "negative epoch": _official({"create_time": -62135596800.0}, update_time=-1e300),
    "year-1 chatgpt-web date": json.dumps(
        {
            "history": [{"uuid": 1, "title": "t"}],
            "chat": [{"uuid": 1, "data": [{"dateTime": "0001/01/01 00:00:00", "text": "hi"}]}],
        }
    ).encode(),
}


@pytest.mark.parametrize("name", list(IMPORTS_THAT_STORE_CLEANED))
async def test_odd_but_usable_imports_are_stored_cleaned(harness: Harness, name: str) -> None:
    alice = await harness.user("alice")
    response = await alice.post(
        "/api/import",
        content=IMPORTS_THAT_STORE_CLEANED[name],
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    (conversation,) = (await alice.get("/api/conversations")).json()["items"]
    assert "\x00" not in conversation["title"]
    assert "\x00" not in (conversation["settings"]["model"] or "")
    assert "\x00" not in conversation["settings"]["system_prompt"]
    messages = (await alice.get(f"/api/conversations/{conversation['id']}/messages")).json()
    assert messages["messages"] and all("\x00" not in m["content"] for m in messages["messages"])
    exported = await alice.get(f"/api/conversations/{conversation['id']}/export")
    assert exported.status_code == 200
