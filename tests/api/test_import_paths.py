"""Both ways an import is read (a small file in a worker thread, a large one spooled to disk and
parsed by a child process) give the same result; a failure half-way leaves nothing behind; the
localStorage form of chatgpt-web's history imports; exports stream and read back whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatgate.api import transfer as transfer_api
from chatgate.db.repos import transfer as rows_repo
from chatgate.errors import StorageFull
from chatgate.services import transfer as transfer_service
from tests.conftest import Harness
from tests.support.exports import write_chatgpt_web_export

DATA = Path(__file__).parents[1] / "data"


async def _import(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        "/api/import", content=body, headers={"content-type": "application/json"}
    )


async def _titles(client: httpx.AsyncClient) -> list[str]:
    items = (await client.get("/api/conversations", params={"limit": 100})).json()["items"]
    return [c["title"] for c in items]


async def test_the_localstorage_form_of_chatgpt_web_imports_like_its_export(
    harness: Harness,
) -> None:
    alice = await harness.user("alice")
    export = json.loads((DATA / "chatgpt-web-export.json").read_text())
    wrapped = json.dumps({"data": export, "expire": None}).encode()
    report = await _import(alice, wrapped)
    assert report.status_code == 201, report.text
    assert report.json()["format"] == "chatgpt-web" and report.json()["messages"] == 8
    assert await _titles(alice) == ["Python 排序", "<script>alert(1)</script> title", "Old chat"]


@pytest.mark.slow
async def test_a_large_file_is_read_by_a_child_process_with_the_same_result(
    harness: Harness, tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    conversations, messages = write_chatgpt_web_export(big, 3 * transfer_api.IN_PROCESS_MAX)
    alice = await harness.user("alice")
    report = await _import(alice, big.read_bytes())
    assert report.status_code == 201, report.text
    body = report.json()
    assert (body["conversations"], body["messages"]) == (conversations, messages)
    assert len(body["conversation_ids"]) == conversations
    first = (await alice.get(f"/api/conversations/{body['conversation_ids'][0]}/messages")).json()
    assert [m["role"] for m in first["messages"][:2]] == ["user", "assistant"]
    assert first["messages"][1]["parent_id"] == first["messages"][0]["id"]
    assert not list((harness.services.settings.data_dir / "tmp").iterdir()), "spool removed"

    # The same file, cut short, or with a repeated id: a 400 from the child, nothing imported.
    bob = await harness.user("bob")
    truncated = await _import(bob, big.read_bytes()[:-10])
    assert truncated.status_code == 400 and "truncated" in truncated.json()["error"]["message"]
    own: dict[str, Any] = {"format": "chatgate", "conversations": []}
    for n in range(2000):
        own["conversations"].append(
            {"title": f"c{n}", "messages": [{"id": "x", "role": "user", "content": "y" * 600}]}
        )
    own["conversations"][-1]["messages"].append({"id": "x", "role": "assistant"})
    repeated = await _import(bob, json.dumps(own).encode())
    assert repeated.status_code == 400 and "two messages" in repeated.json()["error"]["message"]
    assert await _titles(bob) == []


async def test_a_failure_half_way_removes_what_was_written(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await harness.user("alice")
    monkeypatch.setattr(transfer_service, "BATCH_MESSAGES", 2)
    calls = 0
    insert = rows_repo.insert

    def failing(s: Any, **rows: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StorageFull()
        insert(s, **rows)

    monkeypatch.setattr(rows_repo, "insert", failing)
    response = await _import(alice, (DATA / "chatgpt-web-export.json").read_bytes())
    assert response.status_code == 507, response.text
    assert calls == 2
    assert await _titles(alice) == []
    assert (await harness.sql("SELECT count(*) FROM messages"))[0] == 0


async def test_exports_stream_every_conversation_in_every_format(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer_service, "EXPORT_PAGE", 2)  # several chunks
    alice = await harness.user("alice")
    await _import(alice, (DATA / "chatgpt-web-export.json").read_bytes())
    await _import(alice, (DATA / "chatgpt-conversations.json").read_bytes())
    titles = await _titles(alice)
    assert len(titles) == 5

    exported = (await alice.get("/api/export")).json()
    assert [c["title"] for c in exported["conversations"]] == titles
    assert exported["format"] == "chatgate" and exported["exported_at"]
    markdown = (await alice.get("/api/export", params={"format": "markdown"})).text
    assert markdown.count("\n---\n") == 4 and all(f"# {t}" in markdown for t in titles)
    page = (await alice.get("/api/export", params={"format": "html"})).text
    assert page.startswith("<!doctype html>") and page.count('<article class="conversation">') == 5
    assert page.rstrip().endswith("</html>")

    nothing = await (await harness.user("bob")).get("/api/export")
    assert nothing.json()["conversations"] == []
    other = exported["conversations"][0]["id"]
    assert (
        await (await harness.user("carol")).get(f"/api/conversations/{other}/export")
    ).status_code == 404
