"""New-chat defaults per account: set on one device, used by new conversations on every one."""

from __future__ import annotations

from tests.conftest import PASSWORD, Harness

SERVER_DEFAULTS = {
    "model": None,
    "system_prompt": "",
    "temperature": None,
    "top_p": None,
    "max_tokens": None,
    "context_messages": 20,
    "context_tokens": None,
}


async def test_defaults_follow_the_account_into_new_conversations(harness: Harness) -> None:
    alice = await harness.user("alice")
    assert (await alice.get("/api/account/defaults")).json() == SERVER_DEFAULTS
    chosen = {"system_prompt": "Answer like a pirate.", "temperature": 0.3, "context_messages": 4}
    response = await alice.put("/api/account/defaults", json=chosen)
    assert response.status_code == 200, response.text
    mine = {**SERVER_DEFAULTS, **chosen}
    assert response.json() == mine

    phone = await harness.client()
    await phone.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert (await phone.get("/api/account/defaults")).json() == mine
    created = (await phone.post("/api/conversations", json={})).json()
    assert created["settings"] == mine
    # What a new conversation chooses wins; an explicit null is the server's default.
    chosen_here = await phone.post(
        "/api/conversations", json={"settings": {"temperature": 1.2, "context_messages": None}}
    )
    assert chosen_here.json()["settings"] == {**mine, "temperature": 1.2, "context_messages": 20}

    # Replacing the defaults: what is left out goes back to the server's default.
    replaced = await alice.put("/api/account/defaults", json={"top_p": 0.5})
    assert replaced.json() == {**SERVER_DEFAULTS, "top_p": 0.5}
    # Conversations made earlier keep their settings.
    assert (await alice.get(f"/api/conversations/{created['id']}")).json()["settings"] == mine

    bob = await harness.user("bob")
    assert (await bob.get("/api/account/defaults")).json() == SERVER_DEFAULTS
    assert (await bob.post("/api/conversations", json={})).json()["settings"] == SERVER_DEFAULTS
    for bad in ({"temperature": 5}, {"context_messages": -1}, {"model": ""}):
        assert (await alice.put("/api/account/defaults", json=bad)).status_code == 422, bad
