"""Prompt libraries on the server: a person's own prompts on every device, chatgpt-web's prompt
JSON in and out, and the collection administrators share with everyone in their language."""

from __future__ import annotations

import httpx
import orjson

from tests.conftest import PASSWORD, Harness

PROMPT_STORE = [
    {"key": "翻译助手", "value": "请把下面的内容翻译成英文："},
    {"key": "Linux Terminal", "value": "I want you to act as a linux terminal."},
    {"act": "Code Reviewer", "prompt": "Review the following code for bugs:"},  # awesome-prompts
    {"key": "", "value": "no title: left out"},
    "not an object",
    {"key": "no text"},
]


async def _device(harness: Harness, username: str) -> httpx.AsyncClient:
    client = await harness.client()
    await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    return client


def _titles(prompts: list[dict[str, str]]) -> list[str]:
    return [p["key"] for p in prompts]


async def test_my_prompts_are_the_same_on_every_device(harness: Harness) -> None:
    alice = await harness.user("alice")
    created = await alice.post(
        "/api/prompts", json={"key": " Haiku ", "value": "Write a haiku about:"}
    )
    assert created.status_code == 201, created.text
    prompt = created.json()
    assert prompt["key"] == "Haiku"
    assert (
        await alice.post("/api/prompts", json={"key": "Haiku", "value": "x"})
    ).status_code == 409
    second = (
        await alice.post("/api/prompts", json={"key": "Limerick", "value": "A limerick:"})
    ).json()

    laptop = await _device(harness, "alice")
    assert _titles((await laptop.get("/api/prompts")).json()) == ["Haiku", "Limerick"]
    renamed = await laptop.patch(f"/api/prompts/{prompt['id']}", json={"key": "Haiku (5-7-5)"})
    assert renamed.json()["key"] == "Haiku (5-7-5)"
    assert renamed.json()["value"] == "Write a haiku about:"
    clash = await laptop.patch(f"/api/prompts/{prompt['id']}", json={"key": "Limerick"})
    assert clash.status_code == 409
    assert (await laptop.delete(f"/api/prompts/{second['id']}")).status_code == 204
    assert _titles((await alice.get("/api/prompts")).json()) == ["Haiku (5-7-5)"]

    bob = await harness.user("bob")
    assert (await bob.get("/api/prompts")).json() == []
    assert (
        await bob.patch(f"/api/prompts/{prompt['id']}", json={"value": "mine"})
    ).status_code == 404
    assert (await bob.delete(f"/api/prompts/{prompt['id']}")).status_code == 404
    assert (await bob.delete("/api/prompts")).status_code == 204  # clears Bob's, not Alice's
    assert len((await alice.get("/api/prompts")).json()) == 1
    for body in ({"key": "", "value": "x"}, {"key": "t", "value": "   "}, {"key": "t"}):
        assert (await alice.post("/api/prompts", json=body)).status_code == 422, body


async def test_chatgpt_web_prompt_json_imports_and_exports(harness: Harness) -> None:
    alice = await harness.user("alice")
    await alice.post("/api/prompts", json={"key": "Linux Terminal", "value": "old text"})
    response = await alice.post("/api/prompts/import", json=PROMPT_STORE)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["added"], report["updated"]) == (2, 1)
    assert _titles(report["prompts"]) == ["Linux Terminal", "翻译助手", "Code Reviewer"]
    assert report["prompts"][0]["value"] == "I want you to act as a linux terminal."

    again = (await alice.post("/api/prompts/import", json=PROMPT_STORE)).json()
    assert (again["added"], again["updated"]) == (0, 0)

    exported = await alice.get("/api/prompts/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    assert "attachment" in exported.headers["content-disposition"]
    assert orjson.loads(exported.content) == [
        {"key": "Linux Terminal", "value": "I want you to act as a linux terminal."},
        {"key": "翻译助手", "value": "请把下面的内容翻译成英文："},
        {"key": "Code Reviewer", "value": "Review the following code for bugs:"},
    ]
    # The exported file imports into another account as it is.
    bob = await harness.user("bob")
    into_bob = (
        await bob.post(
            "/api/prompts/import",
            content=exported.content,
            headers={"content-type": "application/json"},
        )
    ).json()
    assert into_bob["added"] == 3

    bad: object
    for bad in ({"history": []}, [{"nothing": "useful"}], "text"):
        refused = await alice.post("/api/prompts/import", json=bad)
        assert refused.status_code == 422, bad
    assert (await alice.post("/api/prompts/import", json=[])).json()["added"] == 0
    assert (await alice.delete("/api/prompts")).status_code == 204
    assert (await alice.get("/api/prompts")).json() == []


async def test_everyone_sees_the_starter_collection_in_their_language(harness: Harness) -> None:
    alice = await harness.user("alice")
    english = (await alice.get("/api/prompts/shared", params={"locale": "en-US"})).json()
    assert 8 <= len(english) <= 12
    titles = _titles(english)
    for expected in ("Translate", "Explain code", "Summarise", "Proofread"):
        assert expected in titles
    assert {p["locale"] for p in english} == {"en-US"}
    assert all(p["value"].strip() for p in english)

    chinese = (await alice.get("/api/prompts/shared", params={"locale": "zh-CN"})).json()
    assert [p["id"] for p in chinese] == [p["id"] for p in english]
    assert "翻译" in _titles(chinese) and "校对" in _titles(chinese)
    traditional = (await alice.get("/api/prompts/shared", params={"locale": "zh-TW"})).json()
    assert "翻譯" in _titles(traditional)
    for code in ("ja-JP", "ko-KR", "ru-RU", "es-ES", "fr-FR", "de-DE", "vi-VN"):
        texts = (await alice.get("/api/prompts/shared", params={"locale": code})).json()
        assert {p["locale"] for p in texts} == {code}
        assert _titles(texts) != titles
    # A language the collection lacks falls back to English; so does no language at all.
    assert (
        _titles((await alice.get("/api/prompts/shared", params={"locale": "pt-BR"})).json())
        == titles
    )
    assert _titles((await alice.get("/api/prompts/shared")).json()) == titles
    assert (await alice.get("/api/prompts/shared", params={"locale": "<x>"})).status_code == 422


async def test_administrators_keep_the_shared_collection(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    starter = (await admin.get("/api/admin/prompts")).json()
    assert len(starter) == len((await alice.get("/api/prompts/shared")).json())
    assert {"en-US", "zh-CN"} <= set(starter[0]["translations"])

    created = await admin.post(
        "/api/admin/prompts",
        json={
            "translations": {
                "en-US": {"key": "Team style", "value": "Answer in our team's style:"},
                "zh-CN": {"key": "团队风格", "value": "用我们团队的风格回答："},
                "fr-FR": {"key": "", "value": ""},  # an empty language is dropped
            }
        },
    )
    assert created.status_code == 201, created.text
    prompt = created.json()
    assert set(prompt["translations"]) == {"en-US", "zh-CN"}
    mine = (await alice.get("/api/prompts/shared", params={"locale": "zh-CN"})).json()
    assert mine[-1] == {
        "id": prompt["id"],
        "key": "团队风格",
        "value": "用我们团队的风格回答：",
        "locale": "zh-CN",
    }
    french = (await alice.get("/api/prompts/shared", params={"locale": "fr-FR"})).json()
    assert french[-1]["key"] == "Team style" and french[-1]["locale"] == "en-US"

    edited = await admin.patch(
        f"/api/admin/prompts/{prompt['id']}",
        json={"translations": {"en-US": {"key": "House style", "value": "In house style:"}}},
    )
    assert edited.json()["translations"] == {
        "en-US": {"key": "House style", "value": "In house style:"}
    }
    assert (await alice.get("/api/prompts/shared")).json()[-1]["key"] == "House style"

    # A starter prompt deleted stays deleted (the starter set is added once).
    assert (await admin.delete(f"/api/admin/prompts/{starter[0]['id']}")).status_code == 204
    remaining = [p["id"] for p in (await alice.get("/api/prompts/shared")).json()]
    assert starter[0]["id"] not in remaining and len(remaining) == len(starter)

    body: object
    for body in (
        {"translations": {}},
        {"translations": {"english": {"key": "x", "value": "y"}}},
        {"translations": {"en-US": {"key": "only a title", "value": ""}}},
    ):
        assert (await admin.post("/api/admin/prompts", json=body)).status_code == 422, body
    for method, url in (
        ("GET", "/api/admin/prompts"),
        ("POST", "/api/admin/prompts"),
        ("PATCH", f"/api/admin/prompts/{prompt['id']}"),
        ("DELETE", f"/api/admin/prompts/{prompt['id']}"),
    ):
        response = await alice.request(
            method, url, json={"translations": {"en-US": {"key": "a", "value": "b"}}}
        )
        assert response.status_code == 403, (method, url)
    assert (await admin.delete(f"/api/admin/prompts/{'0' * 32}")).status_code == 404
    audit = [e["action"] for e in (await admin.get("/api/admin/audit")).json()]
    assert {"prompt.create", "prompt.update", "prompt.delete"} <= set(audit)
