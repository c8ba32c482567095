"""Imports keep their original dates and add nothing the second time (issue 16, acceptance 1).

chatgpt-web's Export file as it really is (the `{"data": ..., "expire": null}` value of its
localStorage; tests/data/chatgpt-web-storage.json, written by a browser in UTC+8), its bare form
and ChatGPT's conversations.json import with titles, messages, order and original dates; the
sidebar puts them among old chats, not under "Today"; importing a file again adds nothing and the
report says why, conversation by conversation. Every case runs both ways an import is read: in
the server (a small file) and in a child process (a large one), on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatgate.api import transfer as transfer_api
from chatgate.db.repos import transfer as rows_repo
from tests.conftest import Harness

DATA = Path(__file__).parents[1] / "data"
STORAGE = (DATA / "chatgpt-web-storage.json").read_bytes()
BARE = (DATA / "chatgpt-web-export.json").read_bytes()
OFFICIAL = (DATA / "chatgpt-conversations.json").read_bytes()


@pytest.fixture(params=["in-process", "child-process"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which way the server reads the file: a child process for anything past 64 bytes."""
    if request.param == "child-process":
        monkeypatch.setattr(transfer_api, "IN_PROCESS_MAX", 64)
    return str(request.param)


async def _import(client: httpx.AsyncClient, body: bytes, **params: str) -> dict[str, Any]:
    response = await client.post(
        "/api/import",
        content=body,
        params=params,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    report: dict[str, Any] = response.json()
    return report


async def _listed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    page = await client.get("/api/conversations", params={"limit": 100})
    return list(page.json()["items"])


async def _messages(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/api/conversations/{cid}/messages")).json()["messages"])


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


async def test_chatgpt_webs_export_keeps_titles_messages_order_and_dates(
    harness: Harness, path: str
) -> None:
    alice = await harness.user("alice")
    today = (await alice.post("/api/conversations", json={"title": "Made today"})).json()
    report = await _import(alice, STORAGE)
    assert report["format"] == "chatgpt-web"
    assert (report["conversations"], report["messages"]) == (3, 10)
    assert report["counts"] == {"imported": 3, "empty": 1}
    assert [(o["title"], o["outcome"], o["messages"], o["notes"]) for o in report["outcomes"]] == [
        ("New Chat", "empty", 0, {}),
        ("Python 排序", "imported", 4, {}),
        ("旅行计划", "imported", 4, {"empty_messages": 1}),
        ("第一次对话", "imported", 2, {}),
    ]

    # The sidebar: today's chat first, then the imported ones by their own last activity.
    listed = await _listed(alice)
    assert [c["title"] for c in listed] == ["Made today", "Python 排序", "旅行计划", "第一次对话"]
    assert listed[0]["id"] == today["id"]
    by_title = {c["title"]: c for c in listed}
    # Created when chatgpt-web made the chat (its uuid, exact); last active at the last answer,
    # read in the browser's UTC offset (+8), which the file itself tells.
    expected = {
        "Python 排序": ("2023-03-09T12:15:20.123", "2023-03-10T01:02:30"),
        "旅行计划": ("2023-02-20T01:00:00", "2023-02-20T01:01:20"),
        # A fresh install's chat (uuid 1002) is as old as its first message.
        "第一次对话": ("2023-02-15T13:40:00", "2023-02-15T13:40:09"),
    }
    for title, (created, updated) in expected.items():
        assert _at(by_title[title]["created_at"]) == _utc(created), title
        assert _at(by_title[title]["updated_at"]) == _utc(updated), title
    outcome = report["outcomes"][1]
    assert outcome["conversation_id"] == by_title["Python 排序"]["id"]
    assert _at(outcome["created_at"]) == _utc("2023-03-09T12:15:20.123")

    messages = await _messages(alice, by_title["Python 排序"]["id"])
    assert [(m["role"], m["content"][:4], _at(m["created_at"])) for m in messages] == [
        ("user", "怎么在 ", _utc("2023-03-09T12:15:32")),
        ("assistant", "用 `s", _utc("2023-03-09T12:15:41")),
        ("user", "倒序呢？", _utc("2023-03-10T01:02:11")),
        ("assistant", "加上 `", _utc("2023-03-10T01:02:30")),
    ]
    assert [m["parent_id"] for m in messages[1:]] == [m["id"] for m in messages[:-1]]
    travel = await _messages(alice, by_title["旅行计划"]["id"])
    assert [(m["role"], m["status"]) for m in travel] == [
        ("user", "complete"),
        ("assistant", "error"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert travel[3]["parent_id"] == travel[2]["id"], "the empty answer was left out"

    # Exported, the dates are the original ones too.
    exported = (await alice.get("/api/export")).json()["conversations"]
    first = next(c for c in exported if c["title"] == "Python 排序")
    assert _at(first["created_at"]) == _utc("2023-03-09T12:15:20.123")
    assert (first["import_source"], first["import_key"]) == ("chatgpt-web", "1678364120123")


async def test_a_second_import_of_each_format_adds_nothing(harness: Harness, path: str) -> None:
    alice = await harness.user("alice")
    wrapped_bare = json.dumps({"data": json.loads(BARE), "expire": None}).encode()
    for body, imported in ((STORAGE, 3), (BARE, 3), (OFFICIAL, 2)):
        first = await _import(alice, body)
        assert first["conversations"] == imported
        before = await _listed(alice)
        again = await _import(alice, body)
        assert (again["conversations"], again["messages"], again["conversation_ids"]) == (0, 0, [])
        assert again["counts"].get("already_imported") == imported
        assert again["counts"].get("imported") is None
        assert {o["conversation_id"] for o in again["outcomes"] if o["conversation_id"]} == set(
            first["conversation_ids"]
        ), "the report points at the copies already here"
        assert await _listed(alice) == before
    # The bare form and the localStorage form are the same chats.
    assert (await _import(alice, wrapped_bare))["counts"] == {"already_imported": 3}
    total = await harness.sql("SELECT count(*) FROM conversations")
    assert total[0] == 8

    # Another person importing the same file gets their own copy.
    bob = await harness.user("bob")
    assert (await _import(bob, STORAGE))["conversations"] == 3


async def test_chatgpts_export_keeps_its_dates_and_sorts_among_old_chats(
    harness: Harness, path: str
) -> None:
    alice = await harness.user("alice")
    await _import(alice, STORAGE)
    await _import(alice, OFFICIAL)
    listed = await _listed(alice)
    # 2023-11-14 and 2023-11-15 (ChatGPT) are newer than March 2023 (chatgpt-web).
    assert [c["title"] for c in listed] == [
        "With an image",
        "Regenerated answer",
        "Python 排序",
        "旅行计划",
        "第一次对话",
    ]
    regenerated = listed[1]
    assert _at(regenerated["created_at"]) == _utc("2023-11-14T22:13:20")
    assert _at(regenerated["updated_at"]) == _utc("2023-11-14T22:21:40")
    messages = await _messages(alice, regenerated["id"])
    assert [_at(m["created_at"]).timestamp() for m in messages] == [
        1700000001.0,
        1700000002.0,
        1700000003.0,
        1700000004.0,
        1700000005.0,
    ]


async def test_a_conversation_changed_at_the_source_is_reported_not_merged(
    harness: Harness, path: str
) -> None:
    alice = await harness.user("alice")
    first = await _import(alice, STORAGE)
    changed = json.loads(STORAGE)
    sort = changed["data"]["chat"][1]["data"]
    sort.append({**sort[2], "text": "还有别的方法吗？", "dateTime": "2023/4/5 10:00:00"})
    changed["data"]["history"].insert(
        0, {"title": "新的对话", "isEdit": False, "uuid": 1680660000000}
    )
    changed["data"]["chat"].insert(
        0,
        {"uuid": 1680660000000, "data": [{**sort[0], "dateTime": "2023/4/5 10:00:03"}]},
    )
    report = await _import(alice, json.dumps(changed).encode())
    assert report["counts"] == {
        "imported": 1,
        "changed_since_import": 1,
        "already_imported": 2,
        "empty": 1,
    }
    outcomes = {o["title"]: o for o in report["outcomes"]}
    assert outcomes["新的对话"]["outcome"] == "imported"
    assert outcomes["Python 排序"]["outcome"] == "changed_since_import"
    old_copy = outcomes["Python 排序"]["conversation_id"]
    assert old_copy == first["outcomes"][1]["conversation_id"]
    assert len(await _messages(alice, old_copy)) == 4, "nothing is merged into the copy"

    # Deleting the copy here is how the new version comes in.
    assert (await alice.delete(f"/api/conversations/{old_copy}")).status_code == 204
    again = await _import(alice, json.dumps(changed).encode())
    assert again["counts"] == {"imported": 1, "already_imported": 3, "empty": 1}
    (new_copy,) = again["conversation_ids"]
    assert len(await _messages(alice, new_copy)) == 5


async def test_chatgate_exports_carry_where_a_conversation_came_from(harness: Harness) -> None:
    alice = await harness.user("alice")
    await _import(alice, STORAGE)
    native = (await alice.post("/api/conversations", json={"title": "Native"})).json()["id"]
    export = (await alice.get("/api/export")).content

    # Back into the same account: everything is already here (the native chat has no messages).
    back = await _import(alice, export)
    assert back["conversations"] == 0
    assert back["counts"] == {"already_imported": 3, "empty": 1}
    # A ChatGate conversation's own id matches the conversation itself.
    copy = json.dumps(
        {
            "format": "chatgate",
            "conversations": [
                {"id": native, "title": "Native", "messages": [{"id": "m", "role": "user"}]}
            ],
        }
    ).encode()
    report = await _import(alice, copy)
    assert report["counts"] == {"already_imported": 1}
    assert report["outcomes"][0]["conversation_id"] == native

    # Into another account: imported once; chatgpt-web's own file adds nothing there after it.
    bob = await harness.user("bob")
    assert (await _import(bob, export))["conversations"] == 3
    assert (await _import(bob, export))["conversations"] == 0
    assert (await _import(bob, STORAGE))["counts"] == {"already_imported": 3, "empty": 1}
    assert (await _import(bob, copy))["conversations"] == 1
    # Bob's export still names where each chat came from: alice gets nothing twice.
    from_bob = (await bob.get("/api/export")).content
    assert (await _import(alice, from_bob))["counts"] == {"already_imported": 4}


async def test_two_imports_of_one_file_at_once_add_it_once(harness: Harness) -> None:
    alice = await harness.user("alice")
    reports = await asyncio.gather(*(_import(alice, STORAGE) for _ in range(3)))
    assert sum(r["conversations"] for r in reports) == 3
    assert len(await _listed(alice)) == 3


async def test_a_copy_written_between_the_check_and_the_write_is_not_doubled(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a concurrent import of the same file meets on PostgreSQL: the unique index refuses
    the second copy, and the batch is tried again, finding the first."""
    alice = await harness.user("alice")
    await _import(alice, STORAGE)
    real = rows_repo.already_imported
    calls = 0

    def blind_at_first(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return {} if calls <= 2 else real(*args, **kwargs)

    monkeypatch.setattr(rows_repo, "already_imported", blind_at_first)
    report = await _import(alice, STORAGE)
    assert calls == 3, "the check before, the write that failed, the write again"
    assert report["counts"] == {"already_imported": 3, "empty": 1}
    assert len(await _listed(alice)) == 3


async def test_local_times_are_read_in_the_browsers_zone_when_the_file_cannot_tell(
    harness: Harness,
) -> None:
    # tests/data/chatgpt-web-export.json: uuids and message times that do not tell an offset.
    alice = await harness.user("alice")
    await _import(alice, BARE, timezone="Europe/Berlin")  # UTC+1 in November
    bob = await harness.user("bob")
    await _import(bob, BARE)  # no zone at all: read as UTC
    carol = await harness.user("carol")
    await _import(carol, BARE, timezone="No/Such_Zone")  # unknown here: as without one
    for client, last in ((alice, "2023-11-15T09:01:03"), (bob, "2023-11-15T10:01:03")):
        python = next(c for c in await _listed(client) if c["title"] == "Python 排序")
        assert _at(python["updated_at"]) == _utc(last)
        assert _at(python["created_at"]) == _utc("2023-11-14T22:13:20.002"), "the uuid is exact"
    assert [c["updated_at"] for c in await _listed(carol)] == [
        c["updated_at"] for c in await _listed(bob)
    ]
    # The file's own evidence wins over a zone that contradicts it.
    dave = await harness.user("dave")
    await _import(dave, STORAGE, timezone="America/New_York")
    python = next(c for c in await _listed(dave) if c["title"] == "Python 排序")
    assert _at(python["updated_at"]) == _utc("2023-03-10T01:02:30")
    bad = await alice.post(
        "/api/import",
        content=BARE,
        params={"timezone": "../../etc/passwd"},
        headers={"content-type": "application/json"},
    )
    assert bad.status_code in (400, 422)
