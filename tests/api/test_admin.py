"""The administrator steers the instance and sees usage — not people's conversations, unless the
operator allows it, and then every reading is in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import PASSWORD, Harness


async def test_registration_policy_and_announcement_change_at_run_time(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    visitor = await harness.client()
    assert (
        await visitor.post("/api/auth/register", json={"username": "newbie", "password": PASSWORD})
    ).status_code == 403
    changed = await admin.patch(
        "/api/admin/settings", json={"registration": "open", "announcement": "Maintenance at 6pm"}
    )
    assert changed.json()["registration"] == "open"
    config = (await visitor.get("/api/auth/config")).json()
    assert config["registration"] == "open" and config["announcement"] == "Maintenance at 6pm"
    assert (
        await visitor.post("/api/auth/register", json={"username": "newbie", "password": PASSWORD})
    ).status_code == 201
    unknown_model = await admin.patch("/api/admin/settings", json={"default_model": "nope"})
    assert unknown_model.status_code == 400


async def test_admins_cannot_read_conversations_by_default(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    cid = (await alice.post("/api/conversations", json={"title": "diary"})).json()["id"]
    for path in (
        f"/api/admin/users/{alice_id}/conversations",
        f"/api/admin/users/{alice_id}/conversations/{cid}/messages",
    ):
        response = await admin.get(path)
        assert response.status_code == 403
    assert (await admin.get(f"/api/conversations/{cid}")).status_code == 404
    everything = str((await admin.get("/api/admin/users")).json()) + str(
        (await admin.get("/api/admin/usage")).json()
    )
    assert "diary" not in everything


async def test_content_access_when_enabled_is_audited(make_harness: Callable[..., Any]) -> None:
    harness: Harness = await make_harness(admin_content_access=True)
    admin = await harness.user("root", role="admin")
    alice = await harness.user("alice")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    cid = (await alice.post("/api/conversations", json={"title": "diary"})).json()["id"]
    listed = (await admin.get(f"/api/admin/users/{alice_id}/conversations")).json()
    assert [c["title"] for c in listed["items"]] == ["diary"]
    assert (
        await admin.get(f"/api/admin/users/{alice_id}/conversations/{cid}/messages")
    ).status_code == 200
    audit = (await admin.get("/api/admin/audit")).json()
    actions = [(e["action"], e["actor"], e["target_user_id"]) for e in audit]
    assert ("content.read", "root", alice_id) in actions and (
        "content.list",
        "root",
        alice_id,
    ) in actions
    assert (await alice.get("/api/admin/audit")).status_code == 403


async def test_admin_actions_are_audited(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    created = (
        await admin.post("/api/admin/users", json={"username": "bob", "password": PASSWORD})
    ).json()
    await admin.patch(f"/api/admin/users/{created['id']}", json={"status": "disabled"})
    await admin.post(
        f"/api/admin/users/{created['id']}/password", json={"password": "new password here"}
    )
    actions = {e["action"] for e in (await admin.get("/api/admin/audit")).json()}
    assert {"user.create", "user.update", "user.password_reset"} <= actions
    assert PASSWORD not in str((await admin.get("/api/admin/audit")).json())


async def test_admin_cannot_lock_themselves_out(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    me = (await admin.get("/api/auth/me")).json()["id"]
    assert (await admin.patch(f"/api/admin/users/{me}", json={"role": "user"})).status_code == 409
    assert (
        await admin.patch(f"/api/admin/users/{me}", json={"status": "disabled"})
    ).status_code == 409


async def test_invites_and_sign_outs_are_audited_and_effective_limits_shown(
    make_harness: Callable[..., Any],
) -> None:
    harness: Harness = await make_harness(
        quotas={"messages_per_day": 5}, role_quotas={"admin": {"messages_per_day": None}}
    )
    admin = await harness.user("root", role="admin")
    invite = (await admin.post("/api/admin/invites", json={})).json()
    await admin.delete(f"/api/admin/invites/{invite['id']}")
    alice = await harness.user("alice")
    alice_id = (await alice.get("/api/auth/me")).json()["id"]
    await admin.post(f"/api/admin/users/{alice_id}/signout")
    actions = {e["action"] for e in (await admin.get("/api/admin/audit")).json()}
    assert {"invite.create", "invite.revoke", "user.signout"} <= actions
    users = {u["username"]: u for u in (await admin.get("/api/admin/users")).json()}
    assert users["alice"]["effective_quota"]["messages_per_day"] == 5
    assert users["root"]["effective_quota"]["messages_per_day"] is None
    settings = (await admin.get("/api/admin/settings")).json()
    assert "effective_default_model" in settings and "configured_default_model" in settings
