"""Signing in, out and up, in each mode and registration policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Harness


async def test_setup_link_creates_the_first_admin_once(harness: Harness) -> None:
    token = await harness.services.users.issue_setup_token()
    assert token
    client = await harness.client()
    assert (await client.get("/api/auth/config")).json()["setup_required"] is True

    created = await client.post(
        "/api/auth/setup", json={"token": token, "username": "root", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    assert (await client.get("/api/auth/me")).json()["username"] == "root"

    again = await (await harness.client()).post(
        "/api/auth/setup", json={"token": token, "username": "mallory", "password": PASSWORD}
    )
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "setup_used"
    assert (await client.get("/api/auth/config")).json()["setup_required"] is False


async def test_no_setup_token_is_issued_once_an_admin_exists(harness: Harness) -> None:
    await harness.services.users.create_user("boss", PASSWORD, role="admin")
    assert await harness.services.users.issue_setup_token() is None


async def test_a_new_setup_token_replaces_the_old_one(harness: Harness) -> None:
    first = await harness.services.users.issue_setup_token()
    second = await harness.services.users.issue_setup_token()
    client = await harness.client()
    stale = await client.post(
        "/api/auth/setup", json={"token": first, "username": "a", "password": PASSWORD}
    )
    assert stale.status_code == 410
    fresh = await client.post(
        "/api/auth/setup", json={"token": second, "username": "a", "password": PASSWORD}
    )
    assert fresh.status_code == 201


async def test_wrong_password_and_unknown_user_look_the_same(harness: Harness) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    client = await harness.client()
    wrong = await client.post(
        "/api/auth/login", json={"username": "alice", "password": "not the password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"username": "nobody", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "chatgate_session" not in wrong.cookies


async def test_login_sets_an_httponly_samesite_cookie_and_logout_ends_it(harness: Harness) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    client = await harness.client()
    response = await client.post(
        "/api/auth/login", json={"username": "Alice", "password": PASSWORD}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "chatgate_session=" in cookie
    stolen = client.cookies["chatgate_session"]

    assert (await client.post("/api/auth/logout")).status_code == 204
    replay = await (await harness.client(cookies={"chatgate_session": stolen})).get("/api/auth/me")
    assert replay.status_code == 401


async def test_eleventh_bad_login_in_a_minute_is_refused_with_retry_after(harness: Harness) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    client = await harness.client()
    for _ in range(10):
        response = await client.post(
            "/api/auth/login", json={"username": "alice", "password": "guess-guess"}
        )
        assert response.status_code == 401
    blocked = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert blocked.json()["error"]["code"] == "rate_limited"


async def test_failed_logins_from_many_accounts_are_limited_per_address(harness: Harness) -> None:
    client = await harness.client(peer=("203.0.113.9", 5000))
    statuses = [
        (
            await client.post(
                "/api/auth/login", json={"username": f"u{i}", "password": "guess-guess"}
            )
        ).status_code
        for i in range(31)
    ]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429


async def test_guesses_sent_all_at_once_are_each_counted(harness: Harness) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    client = await harness.client()
    responses = await asyncio.gather(
        *(
            client.post("/api/auth/login", json={"username": "alice", "password": f"guess {n}"})
            for n in range(25)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 10 + [429] * 15


async def test_a_class_signing_in_from_one_address_is_not_limited(harness: Harness) -> None:
    for n in range(40):
        await harness.services.users.create_user(f"pupil{n}", PASSWORD)
    client = await harness.client(peer=("203.0.113.7", 5000))
    for n in range(40):
        response = await client.post(
            "/api/auth/login", json={"username": f"pupil{n}", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text


async def test_password_change_ends_every_other_session(harness: Harness) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    laptop, phone = await harness.client(), await harness.client()
    for client in (laptop, phone):
        await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})

    changed = await laptop.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert changed.status_code == 204
    assert (await phone.get("/api/auth/me")).status_code == 401
    assert (await laptop.get("/api/auth/me")).status_code == 200
    old = await (await harness.client()).post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert old.status_code == 401


async def test_wrong_current_password_changes_nothing(harness: Harness) -> None:
    client = await harness.user("alice")
    response = await client.post(
        "/api/auth/password",
        json={"current_password": "wrong wrong", "new_password": "another passphrase"},
    )
    assert response.status_code == 401
    assert (await client.get("/api/auth/me")).status_code == 200


async def test_disabling_a_user_ends_their_sessions_at_once_and_says_why(
    harness: Harness,
) -> None:
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]

    response = await admin.patch(f"/api/admin/users/{alice_id}", json={"status": "disabled"})
    assert response.status_code == 200
    # The open tab learns why at once, on every route, not just "please sign in".
    for refused in (
        await alice.get("/api/auth/me"),
        await alice.get("/api/conversations"),
        await alice.post("/api/conversations", json={}),
    ):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "account_disabled"
    again = await (await harness.client()).post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "account_disabled"

    # Enabled again, the old session does not come back: it was ended, and says so plainly.
    await admin.patch(f"/api/admin/users/{alice_id}", json={"status": "active"})
    assert (await alice.get("/api/auth/me")).status_code == 401
    fresh = await (await harness.client()).post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert fresh.status_code == 200


async def test_short_passwords_are_refused_and_long_unicode_ones_accepted(harness: Harness) -> None:
    client = await harness.client()
    admin = await harness.user("root", role="admin")
    short = await admin.post("/api/admin/users", json={"username": "bob", "password": "short"})
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "weak_password"
    passphrase = "日本語のパスフレーズ🔑" * 8
    created = await admin.post("/api/admin/users", json={"username": "bob", "password": passphrase})
    assert created.status_code == 201
    login = await client.post("/api/auth/login", json={"username": "bob", "password": passphrase})
    assert login.status_code == 200


async def test_admin_routes_refuse_ordinary_users(harness: Harness) -> None:
    alice = await harness.user("alice")
    assert (await alice.get("/api/admin/users")).status_code == 403
    assert (await alice.post("/api/admin/invites", json={})).status_code == 403


async def test_role_sent_at_registration_is_ignored(make_harness: Callable[..., Any]) -> None:
    harness: Harness = await make_harness(registration="open")
    client = await harness.client()
    response = await client.post(
        "/api/auth/register",
        json={"username": "eve", "password": PASSWORD, "role": "admin", "status": "active"},
    )
    assert response.status_code == 201
    assert response.json()["role"] == "user"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("closed", 403), ("invite", 410), ("approval", 202), ("open", 201)],
)
async def test_registration_without_invite_follows_the_policy(
    make_harness: Callable[..., Any], policy: str, expected: int
) -> None:
    harness: Harness = await make_harness(registration=policy)
    client = await harness.client()
    response = await client.post(
        "/api/auth/register", json={"username": "newbie", "password": PASSWORD}
    )
    assert response.status_code == expected, response.text
    if expected == 202:
        login = await client.post(
            "/api/auth/login", json={"username": "newbie", "password": PASSWORD}
        )
        assert login.json()["error"]["code"] == "approval_pending"


async def test_invite_link_admits_even_when_registration_is_closed(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(registration="closed")
    admin = await harness.user("root", role="admin")
    invite = (await admin.post("/api/admin/invites", json={"max_uses": 1})).json()
    assert invite["url"].endswith(f"/register?invite={invite['code']}")

    client = await harness.client()
    joined = await client.post(
        "/api/auth/register",
        json={"username": "friend", "password": PASSWORD, "invite_code": invite["code"]},
    )
    assert joined.status_code == 201
    assert (await client.get("/api/auth/me")).json()["username"] == "friend"

    reused = await (await harness.client()).post(
        "/api/auth/register",
        json={"username": "friend2", "password": PASSWORD, "invite_code": invite["code"]},
    )
    assert reused.status_code == 410
    assert reused.json()["error"]["code"] == "invite_invalid"


async def test_approval_admits_the_user_after_the_admin_says_yes(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(registration="approval")
    admin = await harness.user("root", role="admin")
    await (await harness.client()).post(
        "/api/auth/register", json={"username": "newbie", "password": PASSWORD}
    )
    users = (await admin.get("/api/admin/users")).json()
    pending = next(u for u in users if u["username"] == "newbie")
    assert pending["status"] == "pending"
    await admin.patch(f"/api/admin/users/{pending['id']}", json={"status": "active"})
    login = await (await harness.client()).post(
        "/api/auth/login", json={"username": "newbie", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_usernames_differing_only_in_case_are_one_account(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(registration="open")
    client = await harness.client()
    assert (
        await client.post("/api/auth/register", json={"username": "Alice", "password": PASSWORD})
    ).status_code == 201
    taken = await client.post(
        "/api/auth/register", json={"username": "alice", "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "username_taken"


async def test_password_mode_gives_each_browser_its_own_user(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(
        auth_mode="password", access_password="shared secret phrase"
    )
    config = (await (await harness.client()).get("/api/auth/config")).json()
    assert config["mode"] == "password"

    first, second = await harness.client(), await harness.client()
    wrong = await first.post("/api/auth/login", json={"password": "nope nope"})
    assert wrong.status_code == 401
    for client in (first, second):
        assert (
            await client.post("/api/auth/login", json={"password": "shared secret phrase"})
        ).status_code == 200
    one = (await first.get("/api/auth/me")).json()
    two = (await second.get("/api/auth/me")).json()
    assert one["is_anonymous"] and two["is_anonymous"]
    assert one["id"] != two["id"]
    await first.post("/api/conversations", json={"title": "mine"})
    assert (await second.get("/api/conversations")).json()["items"] == []


async def test_changing_the_shared_password_ends_its_sessions(
    make_harness: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    harness: Harness = await make_harness(auth_mode="password", access_password="first password")
    client = await harness.client()
    await client.post("/api/auth/login", json={"password": "first password"})
    cookie = client.cookies["chatgate_session"]
    await harness.close()

    restarted: Harness = await make_harness(auth_mode="password", access_password="second password")
    response = await (await restarted.client(cookies={"chatgate_session": cookie})).get(
        "/api/auth/me"
    )
    assert response.status_code == 401


async def test_open_mode_signs_each_browser_in_as_a_guest(make_harness: Callable[..., Any]) -> None:
    harness: Harness = await make_harness(auth_mode="open")
    client = await harness.client()
    assert (await client.get("/api/auth/me")).status_code == 401
    assert (await client.post("/api/auth/login", json={})).status_code == 200
    assert (await client.get("/api/auth/me")).json()["is_anonymous"] is True


async def test_unauthenticated_requests_get_401_in_the_error_shape(harness: Harness) -> None:
    client = await harness.client()
    response = await client.get("/api/conversations")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "unauthenticated", "message": "Please sign in."}}


async def test_forwarded_for_is_ignored_from_untrusted_peers(harness: Harness) -> None:
    await harness.services.users.create_user("alice", PASSWORD)
    attacker = await harness.client(peer=("198.51.100.7", 1234))
    for i in range(30):
        await attacker.post(
            "/api/auth/login",
            json={"username": f"x{i}", "password": "guess-guess"},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        )
    blocked = await attacker.post(
        "/api/auth/login",
        json={"username": "y", "password": "guess-guess"},
        headers={"X-Forwarded-For": "10.9.9.9"},
    )
    assert blocked.status_code == 429


async def test_me_reflects_the_user(harness: Harness) -> None:
    client: httpx.AsyncClient = await harness.user("alice")
    me = (await client.get("/api/auth/me")).json()
    assert me["username"] == "alice" and me["role"] == "user" and me["status"] == "active"
