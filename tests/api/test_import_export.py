"""Bring your history, take your history: imports from chatgpt-web and ChatGPT, lossless
export and re-import, inert HTML exports, and share links."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Harness

DATA = Path(__file__).parents[1] / "data"


async def _import(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        "/api/import", content=body, headers={"content-type": "application/json"}
    )


async def _tree(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/api/conversations/{cid}/messages")).json()["messages"])


async def test_a_chatgpt_web_export_keeps_titles_order_and_speakers(harness: Harness) -> None:
    alice = await harness.user("alice")
    report = await _import(alice, (DATA / "chatgpt-web-export.json").read_bytes())
    assert report.status_code == 201, report.text
    body = report.json()
    assert body["format"] == "chatgpt-web" and body["conversations"] == 3 and body["messages"] == 8

    listed = (await alice.get("/api/conversations")).json()["items"]
    assert [c["title"] for c in listed] == [
        "Python 排序",
        "<script>alert(1)</script> title",
        "Old chat",
    ]
    messages = await _tree(alice, listed[0]["id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "怎么在 Python 里排序一个列表？"
    assert "```python" in messages[1]["content"]
    assert messages[3]["status"] == "error" and "429" in messages[3]["content"]
    assert [m["parent_id"] for m in messages[1:]] == [m["id"] for m in messages[:-1]]
    assert listed[0]["current_leaf_id"] == messages[-1]["id"]


async def test_a_chatgpt_export_keeps_both_branches(harness: Harness) -> None:
    alice = await harness.user("alice")
    report = (await _import(alice, (DATA / "chatgpt-conversations.json").read_bytes())).json()
    assert report["format"] == "chatgpt" and report["conversations"] == 2
    assert any("image" in s["reason"] for s in report["skipped"])
    conversations = {c["title"]: c for c in (await alice.get("/api/conversations")).json()["items"]}
    regenerated = conversations["Regenerated answer"]
    messages = await _tree(alice, regenerated["id"])
    by_content = {m["content"]: m for m in messages}
    question = by_content["Write a haiku about the sea"]
    siblings = [m for m in messages if m["parent_id"] == question["id"]]
    assert sorted(m["content"] for m in siblings) == [
        "Salt wind, grey water",
        "Waves fold into foam",
    ]
    assert question["parent_id"] is None, "the system node was skipped and its child re-attached"
    assert by_content["Tide returns at dusk"]["id"] == regenerated["current_leaf_id"]
    assert by_content["Tide returns at dusk"]["model"] == "gpt-4o"
    branch = (
        await alice.get(
            f"/api/conversations/{regenerated['id']}/messages",
            params={"leaf": by_content["Waves fold into foam"]["id"]},
        )
    ).json()
    assert [m["content"] for m in branch["messages"]] == [
        "Write a haiku about the sea",
        "Waves fold into foam",
    ]
    image = await _tree(alice, conversations["With an image"]["id"])
    assert image[0]["content"] == "What is in this picture?"


def _normalised(export: dict[str, Any]) -> list[dict[str, Any]]:
    """Conversations with ids replaced by positions, so two exports can be compared."""
    out = []
    for conversation in sorted(export["conversations"], key=lambda c: c["title"]):
        ids = {m["id"]: n for n, m in enumerate(conversation["messages"])}
        out.append(
            {
                "title": conversation["title"],
                "settings": conversation["settings"],
                "current": ids.get(conversation["current_leaf_id"]),
                "messages": [
                    {
                        "parent": ids.get(m["parent_id"]),
                        "role": m["role"],
                        "content": m["content"],
                        "status": m["status"],
                        "model": m["model"],
                        "created_at": m["created_at"],
                    }
                    for m in conversation["messages"]
                ],
            }
        )
    return out


async def test_export_then_import_gives_identical_conversations(harness: Harness) -> None:
    alice = await harness.user("alice")
    await _import(alice, (DATA / "chatgpt-conversations.json").read_bytes())
    await _import(alice, (DATA / "chatgpt-web-export.json").read_bytes())
    cid = (await alice.get("/api/conversations")).json()["items"][0]["id"]
    await alice.patch(
        f"/api/conversations/{cid}",
        json={"settings": {"system_prompt": "Be kind", "temperature": 0.2}},
    )
    exported = await alice.get("/api/export", params={"format": "json"})
    assert "attachment" in exported.headers["content-disposition"]
    first = exported.json()

    bob = await harness.user("bob")
    report = (await _import(bob, exported.content)).json()
    assert report["format"] == "chatgate" and report["conversations"] == 5
    second = (await bob.get("/api/export")).json()
    assert _normalised(second) == _normalised(first)
    assert {c["id"] for c in second["conversations"]}.isdisjoint(
        {c["id"] for c in first["conversations"]}
    )


async def test_bad_files_import_nothing(harness: Harness) -> None:
    alice = await harness.user("alice")
    whole = (DATA / "chatgpt-web-export.json").read_bytes()
    truncated = await _import(alice, whole[: len(whole) // 2])
    assert truncated.status_code == 400 and "truncated" in truncated.json()["error"]["message"]
    wrong_shape = await _import(alice, json.dumps({"history": "nope", "chat": []}).encode())
    assert wrong_shape.status_code == 400
    unknown = await _import(alice, b'{"hello": "world"}')
    assert unknown.status_code == 400 and "export" in unknown.json()["error"]["message"]
    huge = await _import(alice, b"[" + b" " * (200 * 1024 * 1024) + b"]")
    assert huge.status_code == 413
    assert (await alice.get("/api/conversations")).json()["items"] == []


async def test_a_file_naming_other_users_ids_touches_nothing_of_theirs(harness: Harness) -> None:
    alice = await harness.user("alice")
    mallory = await harness.user("mallory")
    cid = (await alice.post("/api/conversations", json={"title": "alice's"})).json()["id"]
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    forged = {
        "format": "chatgate",
        "version": 1,
        "conversations": [
            {
                "id": cid,
                "user_id": alice_id,
                "title": "hijack",
                "messages": [
                    {
                        "id": cid,
                        "parent_id": None,
                        "role": "user",
                        "content": "x",
                        "user_id": alice_id,
                    }
                ],
            }
        ],
    }
    report = await _import(mallory, json.dumps(forged).encode())
    assert report.status_code == 201
    assert (await alice.get(f"/api/conversations/{cid}")).json()["title"] == "alice's"
    assert [c["title"] for c in (await alice.get("/api/conversations")).json()["items"]] == [
        "alice's"
    ]
    assert [c["title"] for c in (await mallory.get("/api/conversations")).json()["items"]] == [
        "hijack"
    ]


async def test_markdown_and_html_exports(harness: Harness, tmp_path: Path) -> None:
    alice = await harness.user("alice")
    await _import(alice, (DATA / "chatgpt-web-export.json").read_bytes())
    markdown = (await alice.get("/api/export", params={"format": "markdown"})).text
    assert "# Python 排序" in markdown and "**You**" in markdown
    page = await alice.get("/api/export", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "attachment" in page.headers["content-disposition"]
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "<img src=x" not in page.text

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("CHROMIUM NOT INSTALLED: the exported page was not opened in a browser")
    payload = '<img src=x onerror="document.body.setAttribute(\'data-pwned\', 1)"><script>document.title="pwned"</script>'
    cid = (await alice.post("/api/conversations", json={"title": payload})).json()["id"]
    harness_page = (
        await alice.get(f"/api/conversations/{cid}/export", params={"format": "html"})
    ).text
    file = tmp_path / "export.html"
    file.write_text(harness_page)
    dom = _dump_dom(chromium, file, tmp_path)
    assert (
        "<body>" in dom
        and 'data-pwned="1"' not in dom
        and "<title>ChatGate conversation</title>" in dom
    )
    assert "&lt;img src=x" in dom


def _chatgate_file(*conversations: dict[str, Any]) -> bytes:
    file = {"format": "chatgate", "version": 1, "conversations": list(conversations)}
    return json.dumps(file).encode()


def _turns(cid: str, *turns: tuple[str, str, str]) -> dict[str, Any]:
    """A conversation in ChatGate's own export format: (role, content, status) turns in a row."""
    messages, parent = [], None
    for n, (role, content, status) in enumerate(turns):
        mid = f"{cid}-m{n}"
        messages.append(
            {
                "id": mid,
                "parent_id": parent,
                "role": role,
                "content": content,
                "status": status,
                "model": "gpt-test" if role == "assistant" else None,
                "created_at": f"2026-03-0{n + 1}T10:00:00+00:00",
            }
        )
        parent = mid
    return {
        "id": cid,
        "title": f"Chat {cid}",
        "created_at": "2026-03-01T10:00:00+00:00",
        "updated_at": "2026-03-09T10:00:00+00:00",
        "current_leaf_id": parent,
        "messages": messages,
    }


async def test_the_account_html_export_reads_as_on_screen_with_scripts_off(
    harness: Harness, tmp_path: Path
) -> None:
    alice = await harness.user("alice")
    answer = (
        "Sort with `sorted`:\n\n```python\nprint(sorted([3, 1, 2]))\n```\n\n"
        "The area is $$\\int_0^1 x^2\\,dx = \\tfrac{1}{3}$$\n\n| n | n² |\n|---|---|\n| 2 | 4 |"
    )
    body = _chatgate_file(
        _turns("aa", ("user", "How do I sort?", "complete"), ("assistant", answer, "complete")),
        _turns("bb", ("user", "Tell me a story", "complete"), ("assistant", "Once", "stopped")),
        _turns("cc", ("user", "Long one", "complete"), ("assistant", "Part", "interrupted")),
    )
    assert (await _import(alice, body)).status_code == 201

    page = await alice.get("/api/export", params={"format": "html", "lang": "de-DE"})
    assert page.status_code == 200 and 'lang="de-DE"' in page.text
    text = page.text
    assert '<span class="hl-nb">print</span>' in text  # highlighted, not raw markdown
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in text
    assert "<table>" in text and "$$" not in text and "```" not in text
    assert "Gestoppt" in text and "Diese Antwort wurde vor ihrem Ende unterbrochen." in text
    assert text.count('<article class="conversation">') == 3
    # An unknown language gets English words, never an error.
    english = await alice.get("/api/export", params={"format": "html", "lang": "xx-YY"})
    assert "Stopped" in english.text

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("CHROMIUM NOT INSTALLED: the exported page was not opened in a browser")
    file = tmp_path / "export.html"
    file.write_text(text)
    # No script could run in it anyway: the file's own CSP forbids every script.
    dom = _dump_dom(chromium, file, tmp_path)
    assert "<math" in dom and "hl-nb" in dom and "Gestoppt" in dom


def _dump_dom(chromium: str, file: Path, tmp_path: Path, *flags: str) -> str:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *flags,
            "--dump-dom",
            file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


async def test_share_link_opens_signed_out_and_dies_on_revocation(harness: Harness) -> None:
    alice = await harness.user("alice")
    await _import(alice, (DATA / "chatgpt-web-export.json").read_bytes())
    conversation = (await alice.get("/api/conversations")).json()["items"][0]
    share = (await alice.post(f"/api/conversations/{conversation['id']}/shares")).json()
    token = share["url"].rsplit("/s/", 1)[1]
    assert len(token) >= 22

    visitor = await harness.client()
    shown = await visitor.get(f"/api/shared/{token}")
    assert shown.status_code == 200
    body = shown.json()
    assert body["title"] == "Python 排序" and len(body["messages"]) == 4
    assert "alice" not in shown.text and conversation["id"] not in shown.text

    assert [
        s["id"] for s in (await alice.get(f"/api/conversations/{conversation['id']}/shares")).json()
    ] == [share["id"]]
    mallory = await harness.user("mallory")
    assert (await mallory.delete(f"/api/shares/{share['id']}")).status_code == 404
    assert (await alice.delete(f"/api/shares/{share['id']}")).status_code == 204
    assert (await visitor.get(f"/api/shared/{token}")).status_code == 404


async def test_admin_can_turn_sharing_off(make_harness: Callable[..., Any]) -> None:
    harness: Harness = await make_harness()
    admin = await harness.user("root", role="admin")
    cid = (await admin.post("/api/conversations", json={})).json()["id"]
    token = (await admin.post(f"/api/conversations/{cid}/shares")).json()["url"].rsplit("/", 1)[1]
    await admin.patch("/api/admin/settings", json={"sharing": False})
    assert (await admin.post(f"/api/conversations/{cid}/shares")).status_code == 403
    assert (await (await harness.client()).get(f"/api/shared/{token}")).status_code == 404


async def test_links_that_do_not_open_are_all_the_same_404(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    cid = (await alice.post("/api/conversations", json={"title": "mine"})).json()["id"]
    token = (await alice.post(f"/api/conversations/{cid}/shares")).json()["url"].rsplit("/", 1)[1]
    visitor = await harness.client()
    opened = await visitor.get(f"/api/shared/{token}")
    assert opened.status_code == 200 and opened.headers["x-robots-tag"] == "noindex, nofollow"
    for bad in ("short", "x" * 65, "has space in it!!!!!!", "A" * 22):
        assert (await visitor.get(f"/api/shared/{bad}")).status_code == 404
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    await admin.patch(f"/api/admin/users/{alice_id}", json={"status": "disabled"})
    assert (await visitor.get(f"/api/shared/{token}")).status_code == 404, (
        "a disabled account publishes nothing"
    )
