"""Personal API keys are only keys: they authenticate the OpenAI-compatible `/v1` routes and
nothing under `/api/`, and whatever ends a person's sessions for security reasons (an
administrator's password reset, "sign out everywhere", their own password change, disabling the
account) revokes them too.

The walk over `/openapi.json` covers every `/api/` route the day it is added: each method, with
the key owner's real ids in the path (so a route that accepted the key would change something),
must answer 401, and nothing may have changed afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Harness
from tests.support.streams import data, events_of

NEW_PASSWORD = "a brand new passphrase"
# Bodies a route would act on if it let the key in.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/account/keys"): {"name": "minted with a key"},
    ("POST", "/api/auth/password"): {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    ("POST", "/api/auth/login"): {"username": "root", "password": PASSWORD},
    ("POST", "/api/auth/register"): {"username": "intruder", "password": PASSWORD},
    ("POST", "/api/conversations"): {"title": "made with a key"},
    ("PATCH", "/api/conversations/{conversation_id}"): {"title": "renamed with a key"},
    ("POST", "/api/conversations/{conversation_id}/messages"): {"content": "sent with a key"},
    ("POST", "/api/admin/users"): {"username": "intruder", "password": PASSWORD},
    ("PATCH", "/api/admin/users/{user_id}"): {"status": "disabled", "role": "admin"},
    ("POST", "/api/admin/users/{user_id}/password"): {"password": "taken over with a key"},
    ("POST", "/api/admin/invites"): {"max_uses": 5},
    ("PATCH", "/api/admin/settings"): {"announcement": "changed with a key"},
}


def _keyed(harness: Harness, key: str) -> Callable[[], Awaitable[httpx.AsyncClient]]:
    async def make() -> httpx.AsyncClient:
        return await harness.client(headers={"Authorization": f"Bearer {key}"})

    return make


async def _new_key(client: httpx.AsyncClient, name: str = "script") -> str:
    created = await client.post("/api/account/keys", json={"name": name})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


async def _snapshot(harness: Harness, root: httpx.AsyncClient) -> dict[str, Any]:
    """Everything a key accepted under /api/ could have changed."""
    users = (await root.get("/api/admin/users")).json()
    return {
        "users": sorted((u["username"], u["role"], u["status"]) for u in users),
        "keys": (await root.get("/api/account/keys")).json(),
        "invites": (await root.get("/api/admin/invites")).json(),
        "settings": (await root.get("/api/admin/settings")).json(),
        "export": (await root.get("/api/export")).json()["conversations"],
        "rows": await harness.sql(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions),"
            " (SELECT count(*) FROM api_keys), (SELECT count(*) FROM messages),"
            " (SELECT count(*) FROM conversations), (SELECT count(*) FROM invites)"
        ),
    }


async def test_a_key_opens_no_route_under_api(chat: Harness) -> None:
    root = await chat.user("root", role="admin")
    bob = await chat.user("bob")
    key = await _new_key(root)
    ids = await _objects(root, bob)
    before = await _snapshot(chat, root)

    keyed = await _keyed(chat, key)()
    schema = (await keyed.get("/openapi.json")).json()
    checked = 0
    for path, item in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in item:
            url = re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "0" * 32), path)
            body = BODIES.get((method.upper(), path), {})
            response = await keyed.request(method.upper(), url, json=body)
            assert response.status_code == 401, (
                f"{method.upper()} {path} answered {response.status_code} to an API key"
            )
            assert response.json()["error"]["code"] == "unauthenticated"
            assert "chatgate_session" not in response.cookies
            checked += 1
    assert checked >= 40

    assert await _snapshot(chat, root) == before
    assert (await keyed.get("/v1/models")).status_code == 200, "the key itself still works"
    bob_again = await (await chat.client()).post(
        "/api/auth/login", json={"username": "bob", "password": PASSWORD}
    )
    assert bob_again.status_code == 200


async def _objects(root: httpx.AsyncClient, bob: httpx.AsyncClient) -> dict[str, str]:
    """Real ids for every path parameter: the key owner's own objects, and another user."""
    cid = (await root.post("/api/conversations", json={"title": "root's"})).json()["id"]
    start = data(
        events_of(
            await root.post(f"/api/conversations/{cid}/messages", json={"content": "question"})
        )[0]
    )
    share = (await root.post(f"/api/conversations/{cid}/shares")).json()
    spare = (await root.post("/api/account/keys", json={"name": "spare"})).json()
    invite = (await root.post("/api/admin/invites", json={})).json()
    bob_id = (await bob.get("/api/auth/me")).json()["id"]
    return {
        "conversation_id": cid,
        "message_id": start["message_id"],
        "generation_id": start["message_id"],
        "share_id": share["id"],
        "key_id": spare["id"],
        "invite_id": invite["id"],
        "user_id": bob_id,
        "token": share["url"].rsplit("/", 1)[1],
        "provider": "oa",
        "credential": "0",
    }


async def test_a_key_with_a_session_cookie_still_opens_nothing_under_api(chat: Harness) -> None:
    alice = await chat.user("alice")
    key = await _new_key(alice)
    alice.headers["Authorization"] = f"Bearer {key}"
    assert (await alice.get("/api/auth/me")).status_code == 401
    assert (await alice.post("/api/account/keys", json={"name": "x"})).status_code == 401
    del alice.headers["Authorization"]
    assert len((await alice.get("/api/account/keys")).json()) == 1
    assert (await alice.get("/healthz")).status_code == 200


async def _reset_by_admin(harness: Harness, user_id: str, _client: httpx.AsyncClient) -> None:
    root = await harness.user("root", role="admin")
    reset = await root.post(f"/api/admin/users/{user_id}/password", json={"password": NEW_PASSWORD})
    assert reset.status_code == 204


async def _signed_out_by_admin(harness: Harness, user_id: str, _client: httpx.AsyncClient) -> None:
    root = await harness.user("root", role="admin")
    assert (await root.post(f"/api/admin/users/{user_id}/signout")).status_code == 204


async def _own_password_change(_harness: Harness, _user_id: str, client: httpx.AsyncClient) -> None:
    changed = await client.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204


async def _disabled_and_enabled_again(
    harness: Harness, user_id: str, _client: httpx.AsyncClient
) -> None:
    root = await harness.user("root", role="admin")
    for status in ("disabled", "active"):  # enabling again does not bring the keys back
        assert (
            await root.patch(f"/api/admin/users/{user_id}", json={"status": status})
        ).status_code == 200


@pytest.mark.parametrize(
    "event",
    [_reset_by_admin, _signed_out_by_admin, _own_password_change, _disabled_and_enabled_again],
    ids=["admin-password-reset", "sign-out-everywhere", "own-password-change", "disabled"],
)
async def test_keys_stop_working_when_the_account_is_secured_again(
    chat: Harness,
    event: Callable[[Harness, str, httpx.AsyncClient], Awaitable[None]],
) -> None:
    alice = await chat.user("alice")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    keys = [await _new_key(alice, f"key {n}") for n in range(2)]
    for key in keys:
        assert (await (await _keyed(chat, key)()).get("/v1/models")).status_code == 200

    await event(chat, alice_id, alice)

    for key in keys:
        refused = await (await _keyed(chat, key)()).get("/v1/models")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
    revoked = await chat.sql(
        f"SELECT count(*) FROM api_keys WHERE user_id = '{alice_id}' AND revoked_at IS NOT NULL"
    )
    assert revoked[0] == 2


async def test_other_peoples_keys_and_a_role_change_keep_working(chat: Harness) -> None:
    alice, bob = await chat.user("alice"), await chat.user("bob")
    alice_key, bob_key = await _new_key(alice), await _new_key(bob)
    root = await chat.user("root", role="admin")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    assert (await root.post(f"/api/admin/users/{alice_id}/signout")).status_code == 204
    assert (await (await _keyed(chat, bob_key)()).get("/v1/models")).status_code == 200
    assert (await (await _keyed(chat, alice_key)()).get("/v1/models")).status_code == 401
