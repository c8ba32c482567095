"""Generated from /openapi.json, so a new route is covered the day it is added:

- every route answers 401 without credentials, except an explicit public list;
- every route taking an id answers 404 when Bob uses Alice's ids (403 for admin-only routes),
  and Alice's objects are unchanged afterwards;
- a route with an id parameter this test does not know how to fill fails the test.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Harness
from tests.support.streams import data, events_of

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/auth/config"),
    ("POST", "/api/auth/setup"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/register"),
    ("GET", "/api/shared/{token}"),
    ("GET", "/api/shared/{token}/avatar"),
    # A file of a shared conversation: for anyone with a live link (tests/api/test_attachments.py).
    ("GET", "/api/shared/{token}/attachments/{attachment_id}"),
    ("POST", "/api/csp-report"),
    # Signing in with an organisation's account, before anyone is signed in: the redirect to the
    # provider, its redirect back, and the link of a verified sign-in to a local account (which
    # needs that account's password). Public on purpose; tests/api/test_oidc.py covers them.
    ("GET", "/api/auth/oidc/{provider}/start"),
    ("GET", "/api/auth/oidc/{provider}/callback"),
    ("GET", "/api/auth/oidc/link"),
    ("POST", "/api/auth/oidc/link"),
}
ADMIN_PREFIX = "/api/admin/"
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/conversations/{conversation_id}/messages"): {"content": "from bob"},
    ("PATCH", "/api/conversations/{conversation_id}"): {"title": "bob was here", "role": "admin"},
    ("PATCH", "/api/admin/users/{user_id}"): {"status": "disabled"},
    ("POST", "/api/admin/users/{user_id}/password"): {"password": "taken over by bob"},
}


def _routes(harness: Harness) -> list[tuple[str, str]]:
    schema = harness.app.openapi()
    return [(method.upper(), path) for path, item in schema["paths"].items() for method in item]


async def _alices_objects(harness: Harness, alice: httpx.AsyncClient) -> dict[str, str]:
    me = (await alice.get("/api/auth/me")).json()
    cid = (await alice.post("/api/conversations", json={"title": "alice's secret"})).json()["id"]
    sent = await alice.post("/api/attachments", files={"file": ("secret.txt", b"alice's notes")})
    events = events_of(
        await alice.post(
            f"/api/conversations/{cid}/messages",
            json={"content": "secret question", "attachments": [sent.json()["id"]]},
        )
    )
    unsent = await alice.post("/api/attachments", files={"file": ("draft.txt", b"unsent draft")})
    start = data(events[0])
    share = (await alice.post(f"/api/conversations/{cid}/shares")).json()
    key = (await alice.post("/api/account/keys", json={"name": "alice key"})).json()
    prompt = (await alice.post("/api/prompts", json={"key": "alice's", "value": "text"})).json()
    admin = await harness.user("root", role="admin")
    invite = (await admin.post("/api/admin/invites", json={})).json()
    return {
        "conversation_id": cid,
        "message_id": start["message_id"],
        "generation_id": start["message_id"],
        "share_id": share["id"],
        "key_id": key["id"],
        "prompt_id": prompt["id"],
        "attachment_id": unsent.json()["id"],
        # Admin-only routes: Bob is refused whatever the values.
        "provider": "oa",
        "credential": "oa-1",
        "provider_id": "0" * 32,  # Admin → Upstreams (console providers, their credentials)
        "credential_id": "0" * 32,
        "model_id": "fake-model",
        "invite_id": invite["id"],
        "user_id": me["id"],
        "token": share["url"].rsplit("/", 1)[1],
    }


async def test_every_route_needs_credentials_unless_it_is_public(chat: Harness) -> None:
    anonymous = await chat.client()
    for method, path in _routes(chat):
        if (method, path) in PUBLIC:
            continue
        filled = re.sub(r"\{[^}]+\}", "0" * 32, path)
        response = await anonymous.request(method, filled, json={})
        assert response.status_code == 401, (
            f"{method} {path} answered {response.status_code} without sign-in"
        )


async def test_bob_cannot_touch_anything_of_alices(chat: Harness) -> None:
    alice, bob = await chat.user("alice"), await chat.user("bob")
    ids = await _alices_objects(chat, alice)
    before = (await alice.get("/api/export")).json()["conversations"]
    checked = 0
    for method, path in _routes(chat):
        names = re.findall(r"\{([^}]+)\}", path)
        if not names or (method, path) in PUBLIC:
            continue
        unknown = [n for n in names if n not in ids]
        assert not unknown, f"{method} {path}: add {unknown} to the authorization matrix"
        url = path.format(**ids)
        response = await bob.request(method, url, json=BODIES.get((method, path), {}))
        expected = 403 if path.startswith(ADMIN_PREFIX) else 404
        assert response.status_code == expected, f"{method} {path} gave Bob {response.status_code}"
        checked += 1
    assert checked >= 12
    after = (await alice.get("/api/export")).json()["conversations"]
    assert after == before
    assert (await alice.get("/api/auth/me")).status_code == 200
    assert (await alice.get(f"/api/attachments/{ids['attachment_id']}")).content == b"unsent draft"
    keys = (await alice.get("/api/account/keys")).json()
    assert keys[0]["revoked_at"] is None
    visitor = await chat.client()
    assert (await visitor.get(f"/api/shared/{ids['token']}")).status_code == 200
