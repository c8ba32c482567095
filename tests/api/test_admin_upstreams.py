"""Admin → Upstreams (issue 18): an AI service connected from the browser answers at once,
its key never leaves the server, models are curated, and answers under way are not disturbed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import POSTGRES_URL, Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of, iter_events, kinds

KEY = "sk-console-KEY-0123456789abcdef"
REPLY = "Hello from the console's upstream"
UPSTREAMS = "/api/admin/upstreams"


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(reply=REPLY, valid_keys=[KEY], models=("fake-model", "fake-model-2")) as fake:
        yield fake


def _clean(*texts: str) -> None:
    for text in texts:
        assert KEY not in text
        assert KEY[3:-4] not in text  # not even the middle of it


async def _connect(admin: httpx.AsyncClient, fake: FakeUpstream, **extra: Any) -> dict[str, Any]:
    body = {"name": "lan", "kind": "openai", "base_url": f"{fake.base_url}/v1", "api_key": KEY}
    response = await admin.post(f"{UPSTREAMS}/providers", json={**body, **extra})
    assert response.status_code == 201, response.text
    _clean(response.text)
    provider: dict[str, Any] = response.json()
    return provider


async def _ask(client: httpx.AsyncClient, model: str | None = None) -> httpx.Response:
    cid = (await client.post("/api/conversations", json={})).json()["id"]
    body: dict[str, Any] = {"content": "hi"}
    if model is not None:
        body["model"] = model
    return await client.post(f"/api/conversations/{cid}/messages", json=body)


def _database_bytes(harness: Harness) -> bytes:
    path = Path(harness.services.settings.resolved_database_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_a_service_connected_in_the_console_answers_at_once_and_after_a_restart(
    make_harness: Callable[..., Any], upstream: FakeUpstream
) -> None:
    harness: Harness = await make_harness()
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")

    found = await admin.post(
        f"{UPSTREAMS}/discover",
        json={"kind": "openai", "base_url": f"{upstream.base_url}/v1", "api_key": KEY},
    )
    assert found.json() == {"models": ["fake-model", "fake-model-2"]}
    provider = await _connect(admin, upstream)
    assert provider["source"] == "console" and provider["models"] == []
    [credential] = provider["credentials"]
    assert credential["has_key"] and credential["key_hint"] == f"sk-…{KEY[-4:]}"
    saved = await admin.post(f"{UPSTREAMS}/providers/{provider['id']}/discover")
    assert saved.json()["models"] == ["fake-model", "fake-model-2"]
    enabled = await admin.put(f"{UPSTREAMS}/models/lan/fake-model", json={"enabled": True})
    assert enabled.status_code == 200 and enabled.json()["enabled"]

    models = (await alice.get("/api/models")).json()
    assert models["default"] == "fake-model" and not models["bundled_demo"]
    assert [m["id"] for m in models["models"] if m["provider"] == "lan"] == ["fake-model"]
    events = events_of(await _ask(alice))
    assert answer_text(events) == REPLY and kinds(events)[-1] == "done"
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {KEY}"

    listing = await admin.get(UPSTREAMS)
    audit = await admin.get("/api/admin/audit")
    assert any(e["action"] == "upstream.provider.create" for e in audit.json())
    _clean(listing.text, audit.text, (await admin.get("/api/admin/providers")).text)
    _clean((await admin.get("/api/admin/settings")).text, (await alice.get("/api/export")).text)
    if not POSTGRES_URL:
        assert KEY.encode() not in _database_bytes(harness)
    stored = await harness.sql("SELECT key_sealed, key_hint FROM upstream_credentials")
    assert KEY not in stored[0] and stored[1] == f"sk-…{KEY[-4:]}"

    await harness.close()
    again: Harness = await make_harness()
    bob = await again.user("bob")
    assert (await bob.get("/api/models")).json()["default"] == "fake-model"
    assert answer_text(events_of(await _ask(bob))) == REPLY


async def test_model_settings_rename_price_hide_and_restrict(
    make_harness: Callable[..., Any], upstream: FakeUpstream
) -> None:
    harness: Harness = await make_harness()
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    await _connect(admin, upstream, models=["fake-model", "fake-model-2"])
    settings = {"enabled": True, "display_name": "Fake GPT", "vision": True}
    put = await admin.put(
        f"{UPSTREAMS}/models/lan/fake-model", json={**settings, "input_price": 2, "output_price": 4}
    )
    assert put.json()["display_name"] == "Fake GPT" and put.json()["input_price"] == 2
    shown = {m["id"]: m for m in (await alice.get("/api/models")).json()["models"]}
    assert shown["fake-model"]["name"] == "Fake GPT" and shown["fake-model"]["vision"]
    assert shown["fake-model-2"]["name"] == "fake-model-2"

    assert answer_text(events_of(await _ask(alice, "fake-model"))) == REPLY
    [row] = (await admin.get("/api/admin/usage", params={"group": "model"})).json()
    usage = upstream.requests[-1]
    assert usage.protocol == "openai"
    expected = 2 * row["prompt_tokens"] + 4 * row["completion_tokens"]
    assert row["completion_tokens"] > 0 and row["cost_usd"] == pytest.approx(expected / 1e6)

    await admin.put(f"{UPSTREAMS}/models/lan/fake-model-2", json={"enabled": False})
    assert "fake-model-2" not in {
        m["id"] for m in (await alice.get("/api/models")).json()["models"]
    }
    refused = await _ask(alice, "fake-model-2")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "model_unavailable"
    alice_key = (await alice.post("/api/account/keys", json={"name": "sdk"})).json()["key"]
    api = await harness.client(headers={"authorization": f"Bearer {alice_key}"})
    assert "fake-model-2" not in {m["id"] for m in (await api.get("/v1/models")).json()["data"]}
    completion = await api.post(
        "/v1/chat/completions",
        json={"model": "fake-model-2", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert completion.status_code == 400

    await admin.put(
        f"{UPSTREAMS}/models/lan/fake-model", json={**settings, "allowed_roles": ["admin"]}
    )
    assert "fake-model" not in {m["id"] for m in (await alice.get("/api/models")).json()["models"]}
    assert (await _ask(alice, "fake-model")).status_code == 400
    assert "fake-model" in {m["id"] for m in (await admin.get("/api/models")).json()["models"]}
    await admin.put(
        f"{UPSTREAMS}/models/lan/fake-model", json={**settings, "allowed_users": ["Alice"]}
    )
    assert answer_text(events_of(await _ask(alice, "fake-model"))) == REPLY


async def test_only_admins_reach_the_console_and_bad_input_is_refused(
    harness: Harness, upstream: FakeUpstream
) -> None:
    alice = await harness.user("alice")
    admin = await harness.user("root", role="admin")
    assert (await alice.get(UPSTREAMS)).status_code == 403
    refused = await alice.post(
        f"{UPSTREAMS}/providers", json={"name": "x", "kind": "openai", "api_key": KEY}
    )
    assert refused.status_code == 403
    good = {"name": "ok", "kind": "openai", "base_url": f"{upstream.base_url}/v1"}
    for bad in (
        {"kind": "local"},
        {"kind": "nonsense"},
        {"name": "has space"},
        {"base_url": "ftp://example.org"},
        {"base_url": "http://user:pw@example.org/v1"},
        {"proxy": "gopher://proxy"},
        {"concurrency": 0},
    ):
        response = await admin.post(f"{UPSTREAMS}/providers", json={**good, **bad})
        assert response.status_code == 422, (bad, response.text)
    assert (await admin.get(UPSTREAMS)).json()["providers"][-1]["source"] == "file"


async def test_file_providers_are_read_only_but_their_models_can_be_curated(
    chat: Harness,
) -> None:
    admin = await chat.user("root", role="admin")
    alice = await chat.user("alice")
    listing = await admin.get(UPSTREAMS)
    assert "sk-test-openai-key-000000" not in listing.text
    oa = next(p for p in listing.json()["providers"] if p["name"] == "oa")
    assert oa["source"] == "file" and oa["id"] is None and oa["credentials"][0]["key_hint"] is None
    assert [m["id"] for m in oa["models"]] == ["fake-model", "tiny-window"]
    for method, path in (
        ("PATCH", "/providers/oa"),
        ("DELETE", "/providers/oa"),
        ("POST", "/providers/oa/credentials"),
    ):
        response = await admin.request(method, f"{UPSTREAMS}{path}", json={"enabled": False})
        assert response.status_code == 409, (method, path)
        assert "configuration file" in response.json()["error"]["message"]
    clash = await admin.post(f"{UPSTREAMS}/providers", json={"name": "oa", "kind": "openai"})
    assert clash.status_code == 409

    hidden = await admin.put(f"{UPSTREAMS}/models/oa/tiny-window", json={"enabled": False})
    assert hidden.status_code == 200
    assert "tiny-window" not in {m["id"] for m in (await alice.get("/api/models")).json()["models"]}
    found = await admin.post(f"{UPSTREAMS}/file/oa/discover")
    assert found.json()["models"] == ["fake-model", "fake-model-2"]
    added = await admin.put(f"{UPSTREAMS}/models/oa/fake-model-2", json={"enabled": True})
    assert added.status_code == 200
    assert answer_text(events_of(await _ask(alice, "fake-model-2")))
    taken = await admin.put(f"{UPSTREAMS}/models/an/fake-model", json={"enabled": True})
    assert taken.status_code == 409  # another provider offers that id already


async def test_removing_a_credential_mid_answer_lets_the_answer_finish(
    make_harness: Callable[..., Any], upstream: FakeUpstream
) -> None:
    upstream.reply = " ".join(f"w{n}" for n in range(30))
    upstream.set_scenario("normal", token_delay=0.05)
    harness: Harness = await make_harness()
    admin = await harness.user("root", role="admin")
    provider = await _connect(admin, upstream, models=["fake-model"])
    credential = provider["credentials"][0]["id"]
    alice = await harness.remote_user(await harness.user("alice"))
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    events = []
    async with alice.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
    ) as response:
        async for event in iter_events(response):
            events.append(event)
            if kinds(events).count("delta") == 3:
                removed = await admin.delete(
                    f"{UPSTREAMS}/providers/{provider['id']}/credentials/{credential}"
                )
                assert removed.status_code == 204
                waiting = harness.services.upstreams._retirement._waiting
                assert [c.name for c in waiting] == ["default"]  # not closed while it streams
    assert kinds(events)[-1] == "done" and data(events[-1])["status"] == "complete"
    assert answer_text(events) == upstream.reply
    assert (await _ask(alice, "fake-model")).status_code == 400  # nothing serves it any more
    live = harness.services.upstreams
    for _ in range(50):  # the retired credential's client is closed once it is idle
        if not live._retirement._waiting:
            break
        await asyncio.sleep(0.1)
    assert not live._retirement._waiting


async def test_connection_test_streams_and_a_refusal_is_an_error_event_without_the_key(
    harness: Harness, upstream: FakeUpstream
) -> None:
    admin = await harness.user("root", role="admin")
    form = {"kind": "openai", "base_url": f"{upstream.base_url}/v1", "model": "fake-model"}
    events = events_of(await admin.post(f"{UPSTREAMS}/test", json={**form, "api_key": KEY}))
    assert kinds(events)[-1] == "done" and answer_text(events) == REPLY
    assert upstream.requests[-1].json["max_tokens"] == 64

    wrong = "sk-WRONG-console-key-987654321"
    upstream.set_scenario("echo_key")  # the upstream quotes the key it was given
    refused = events_of(await admin.post(f"{UPSTREAMS}/test", json={**form, "api_key": wrong}))
    assert kinds(refused) == ["error"]
    assert data(refused[0])["code"] == "upstream_auth"
    assert wrong not in refused[0].data and wrong[3:-4] not in refused[0].data

    upstream.set_scenario("normal")
    provider = await _connect(admin, upstream)
    saved = await admin.post(
        f"{UPSTREAMS}/providers/{provider['id']}/test", json={"model": "fake-model"}
    )
    assert answer_text(events_of(saved)) == REPLY
    _clean(saved.text)


async def test_discovery_speaks_anthropic_and_ollama(
    harness: Harness, upstream: FakeUpstream
) -> None:
    admin = await harness.user("root", role="admin")
    anthropic = await admin.post(
        f"{UPSTREAMS}/discover",
        json={"kind": "anthropic", "base_url": upstream.base_url, "api_key": KEY},
    )
    assert anthropic.json() == {"models": ["fake-model", "fake-model-2"]}
    assert upstream.requests[-1].headers["x-api-key"] == KEY
    assert upstream.requests[-1].headers["anthropic-version"]

    upstream.set_models_scenario("server_error", status=404)  # an Ollama without /v1/models
    ollama = await admin.post(
        f"{UPSTREAMS}/discover",
        json={"kind": "openai", "base_url": f"{upstream.base_url}/v1", "api_key": KEY},
    )
    assert ollama.json() == {"models": ["fake-model", "fake-model-2"]}
    assert upstream.calls("/api/tags") == 1

    upstream.set_models_scenario("auth_error")
    failed = await admin.post(
        f"{UPSTREAMS}/discover",
        json={"kind": "openai", "base_url": f"{upstream.base_url}/v1", "api_key": KEY},
    )
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "upstream_auth"
    _clean(failed.text)


async def test_a_key_is_only_sent_where_it_was_saved(
    harness: Harness, upstream: FakeUpstream
) -> None:
    admin = await harness.user("root", role="admin")
    provider = await _connect(admin, upstream)
    url = f"{UPSTREAMS}/providers/{provider['id']}"
    moved = await admin.patch(url, json={"base_url": "http://198.51.100.7:11434/v1"})
    assert moved.status_code == 409
    same_origin = await admin.patch(url, json={"base_url": f"{upstream.base_url}/v1/"})
    assert same_origin.status_code == 200, same_origin.text
    odd = await admin.put(
        f"{UPSTREAMS}/models/lan/meta-llama/llama-3-8b:free", json={"enabled": True}
    )
    assert odd.status_code == 200 and odd.json()["id"] == "meta-llama/llama-3-8b:free"
    renamed = await admin.patch(url, json={"name": "renamed"})
    assert renamed.json()["models"][0]["id"] == "meta-llama/llama-3-8b:free"
    assert (await admin.delete(url)).status_code == 204
    assert all(p["source"] == "file" for p in (await admin.get(UPSTREAMS)).json()["providers"])


async def test_file_and_console_providers_together(
    make_harness: Callable[..., Any], upstream: FakeUpstream
) -> None:
    with FakeUpstream(reply="from the file") as file_fake:
        harness: Harness = await make_harness(
            providers=providers_for(file_fake), default_model="fake-model"
        )
        admin = await harness.user("root", role="admin")
        await _connect(admin, upstream, models=["fake-model-2"])
        alice = await harness.user("alice")
        models = (await alice.get("/api/models")).json()
        assert models["default"] == "fake-model"  # a real default stays the default
        assert answer_text(events_of(await _ask(alice))) == "from the file"
        assert answer_text(events_of(await _ask(alice, "fake-model-2"))) == REPLY


async def test_unknown_ids_unreachable_services_and_odd_models_get_clear_errors(
    harness: Harness, upstream: FakeUpstream
) -> None:
    admin = await harness.user("root", role="admin")
    provider = await _connect(admin, upstream)
    base = f"{UPSTREAMS}/providers/{provider['id']}"
    missing = "0" * 32
    for method, path, body in (
        ("PATCH", f"{UPSTREAMS}/providers/{missing}", {"enabled": False}),
        ("DELETE", f"{UPSTREAMS}/providers/{missing}", None),
        ("PATCH", f"{base}/credentials/{missing}", {"enabled": False}),
        ("DELETE", f"{base}/credentials/{missing}", None),
        ("POST", f"{UPSTREAMS}/providers/{missing}/discover", None),
        ("POST", f"{base}/test", {"model": "fake-model", "credential_id": missing}),
        ("PUT", f"{UPSTREAMS}/models/nobody/fake-model", {"enabled": True}),
        ("POST", f"{UPSTREAMS}/file/nobody/discover", None),
        ("POST", f"{UPSTREAMS}/file/nobody/test", {"model": "m"}),
    ):
        response = await admin.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    named = await admin.post(f"{base}/credentials", json={"name": "default", "api_key": KEY})
    assert named.status_code == 409  # the first credential is "default"
    second = await admin.post(f"{base}/credentials", json={"api_key": KEY + "2"})
    assert second.status_code == 201 and second.json()["name"] == "key-1"
    patched = await admin.patch(
        f"{base}/credentials/{second.json()['id']}", json={"concurrency": 2, "enabled": False}
    )
    assert patched.json()["concurrency"] == 2 and patched.json()["state"] is None

    closed = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    unreachable = await admin.post(
        f"{UPSTREAMS}/discover", json={"kind": "openai", "base_url": closed, "api_key": KEY}
    )
    assert unreachable.status_code == 502, unreachable.text
    assert "connect" in unreachable.json()["error"]["message"]
    _clean(unreachable.text)
    upstream.set_scenario("server_error", status=404)
    odd = await admin.post(f"{base}/test", json={"model": "no-such-model"})
    assert kinds(events_of(odd)) == ["error"]
    nameless = await admin.post(f"{UPSTREAMS}/providers", json={"kind": "openai"})
    assert nameless.status_code == 422


async def test_the_bundled_model_stays_until_the_admin_disables_it(
    harness: Harness, upstream: FakeUpstream
) -> None:
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    before = (await alice.get("/api/models")).json()
    if not before["bundled_demo"]:
        pytest.skip("the bundled local model is not installed")
    bundled = before["default"]
    await _connect(admin, upstream, models=["fake-model"])
    after = (await alice.get("/api/models")).json()
    assert after["default"] == "fake-model" and not after["bundled_demo"]
    assert {bundled, "fake-model"} <= {m["id"] for m in after["models"]}
    hidden = await admin.put(f"{UPSTREAMS}/models/local/{bundled}", json={"enabled": False})
    assert hidden.status_code == 200
    assert [m["id"] for m in (await alice.get("/api/models")).json()["models"]] == ["fake-model"]


async def test_an_unchanged_provider_and_credential_keep_their_objects(
    harness: Harness, upstream: FakeUpstream
) -> None:
    admin = await harness.user("root", role="admin")
    provider = await _connect(admin, upstream)
    live = harness.services.upstreams
    before = live.live("lan")
    assert before is not None
    [first] = before.credentials
    await admin.put(f"{UPSTREAMS}/models/lan/fake-model", json={"enabled": True})
    assert live.live("lan") is before  # a model setting rebuilds nothing
    added = await admin.post(
        f"{UPSTREAMS}/providers/{provider['id']}/credentials", json={"api_key": KEY}
    )
    assert added.status_code == 201
    after = live.live("lan")
    assert after is not None and after is not before
    assert after.credentials[0] is first  # the unchanged key keeps its client and state
    assert [c.name for c in after.credentials] == ["default", "key-1"]
    assert [r["name"] for r in await harness.services.scheduler.status("lan")] == [
        "default",
        "key-1",
    ]


async def test_keys_saved_under_another_instance_secret_are_named_and_can_be_entered_again(
    make_harness: Callable[..., Any], upstream: FakeUpstream
) -> None:
    """A database restored without its instance secret starts; the console names the keys it
    cannot open, the provider is not offered meanwhile, and typing the key again heals it."""
    harness: Harness = await make_harness(secret_key="11" * 32)
    admin = await harness.user("root", role="admin")
    provider = await _connect(admin, upstream)
    await admin.put(f"{UPSTREAMS}/models/lan/fake-model", json={"enabled": True})
    await harness.close()

    moved: Harness = await make_harness(secret_key="22" * 32)
    root = await moved.user("root2", role="admin")
    alice = await moved.user("alice")
    listing = (await root.get(UPSTREAMS)).json()
    [credential] = next(p for p in listing["providers"] if p["name"] == "lan")["credentials"]
    assert "cannot be decrypted" in credential["last_error"]
    assert "fake-model" not in [m["id"] for m in (await alice.get("/api/models")).json()["models"]]

    again = await root.patch(
        f"{UPSTREAMS}/providers/{provider['id']}/credentials/{credential['id']}",
        json={"api_key": KEY},
    )
    assert again.status_code == 200, again.text
    assert answer_text(events_of(await _ask(alice, "fake-model"))) == REPLY
