"""No request can point an upstream call elsewhere, and nobody unauthenticated reaches one
(security.md §4.E and G): base URLs, keys and proxies come only from configuration."""

from __future__ import annotations

from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream

KEY = "sk-test-openai-key-000000"


async def test_request_fields_and_headers_cannot_redirect_the_upstream_call(
    chat: Harness, fake: FakeUpstream
) -> None:
    with FakeUpstream(reply="evil") as elsewhere:
        alice = await chat.user("alice")
        cid = (await alice.post("/api/conversations", json={})).json()["id"]
        hostile = {
            "base_url": f"{elsewhere.base_url}/v1",
            "api_base": f"{elsewhere.base_url}/v1",
            "baseURL": f"{elsewhere.base_url}/v1",
            "proxy": elsewhere.base_url,
            "endpoint": f"{elsewhere.base_url}/v1/chat/completions",
            "api_key": "sk-attacker",
        }
        response = await alice.post(
            f"/api/conversations/{cid}/messages",
            json={"content": "hello", **hostile, "options": hostile, "settings": hostile},
            headers={
                "X-Forwarded-Host": elsewhere.base_url.split("//")[1],
                "X-Original-URL": f"{elsewhere.base_url}/v1/chat/completions",
                "Forwarded": f"host={elsewhere.base_url.split('//')[1]}",
                "X-Api-Base": elsewhere.base_url,
            },
        )
        assert response.status_code in (200, 422)
        assert elsewhere.calls() == 0, "no request may reach an address from the request"
        if response.status_code == 200:
            (call,) = fake.requests
            assert call.headers["authorization"] == f"Bearer {KEY}"
            assert "sk-attacker" not in str(call.json)


async def test_unauthenticated_requests_make_no_upstream_call(
    chat: Harness, fake: FakeUpstream
) -> None:
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    stranger = await chat.client()
    attempts = [
        await stranger.post(f"/api/conversations/{cid}/messages", json={"content": "hi"}),
        await stranger.post(
            "/v1/chat/completions",
            json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
        ),
        await stranger.post(
            "/v1/chat/completions",
            json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": "Bearer cg-not-a-real-key"},
        ),
    ]
    assert [r.status_code for r in attempts] == [401, 401, 401]
    assert fake.calls() == 0
