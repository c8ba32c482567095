"""/openapi.json says the rules the code enforces, and the code does not quietly accept what it
cannot use: OPTIONS answers with the methods an address takes, a usage period is made of
calendar days, a conversation cannot be set to a model this server does not offer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness


async def _schema(harness: Harness) -> dict[str, Any]:
    client = await harness.client()
    schema: dict[str, Any] = (await client.get("/openapi.json")).json()
    return schema


def _body_schema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = schema["components"]["schemas"][name]["properties"]
    return properties


async def test_the_schema_declares_password_username_cursor_and_event_id_rules(
    harness: Harness,
) -> None:
    schema = await _schema(harness)
    for name, field in (
        ("RegisterIn", "password"),
        ("SetupIn", "password"),
        ("PasswordChangeIn", "new_password"),
        ("AdminUserIn", "password"),
        ("AdminPasswordIn", "password"),
    ):
        assert _body_schema(schema, name)[field]["minLength"] == 8, name
    for name in ("RegisterIn", "SetupIn", "AdminUserIn"):
        assert _body_schema(schema, name)["username"]["pattern"] == r"^[\w.\-]{1,64}$", name
    events = schema["paths"]["/api/generations/{generation_id}/events"]["get"]
    (header,) = [p for p in events["parameters"] if p["name"] == "last-event-id"]
    assert header["in"] == "header" and "pattern" in str(header["schema"])
    listing = schema["paths"]["/api/conversations"]["get"]
    (cursor,) = [p for p in listing["parameters"] if p["name"] == "cursor"]
    assert "^[A-Za-z0-9_-]{1,200}$" in str(cursor["schema"])
    assert "requestBody" in schema["paths"]["/api/import"]["post"]


async def test_the_rules_the_schema_declares_are_enforced(harness: Harness) -> None:
    admin = await harness.user("root", role="admin")
    short = await admin.post("/api/admin/users", json={"username": "bob", "password": "short"})
    assert short.status_code == 422 and short.json()["error"]["code"] == "weak_password"
    spaced = await admin.post(
        "/api/admin/users", json={"username": "b o b", "password": "long enough password 1"}
    )
    assert spaced.status_code == 422
    cursor = await admin.get("/api/conversations", params={"cursor": "not+base64/"})
    assert cursor.status_code == 400


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/conversations", "GET, OPTIONS, POST"),
        (f"/api/conversations/{'a' * 32}", "DELETE, GET, OPTIONS, PATCH"),
        ("/api/import", "OPTIONS, POST"),
        ("/healthz", "GET, OPTIONS"),
        ("/some/page/of/the/web/app", "GET, HEAD, OPTIONS"),
    ],
)
async def test_options_answers_with_allow(harness: Harness, path: str, methods: str) -> None:
    client = await harness.client()
    response = await client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == methods


async def test_a_method_an_address_does_not_take_is_405_with_the_right_allow(
    harness: Harness,
) -> None:
    alice = await harness.user("alice")
    response = await alice.put("/api/conversations", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, OPTIONS, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("value", ["0", "1700000000", "2024-1-1", "yesterday", "2024-02-30"])
async def test_a_usage_period_is_made_of_days(harness: Harness, value: str) -> None:
    admin = await harness.user("root", role="admin")
    for name in ("since", "until"):
        for path in ("/api/admin/usage", "/api/admin/usage.csv"):
            response = await admin.get(path, params={name: value})
            assert response.status_code == 422, (path, name, response.text)
            assert response.json()["error"]["code"] == "validation_error"
    fine = await admin.get(
        "/api/admin/usage", params={"since": "2024-01-01", "until": "2024-01-31"}
    )
    assert fine.status_code == 200


async def test_a_conversation_cannot_be_set_to_a_model_the_server_does_not_offer(
    chat: Harness,
) -> None:
    alice = await chat.user("alice")
    refused = await alice.post("/api/conversations", json={"settings": {"model": "gpt-nope"}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "model_unavailable"
    assert (await alice.get("/api/conversations")).json()["items"] == []
    created = await alice.post("/api/conversations", json={"settings": {"model": "fake-model"}})
    assert created.status_code == 201
    cid = created.json()["id"]
    patched = await alice.patch(f"/api/conversations/{cid}", json={"settings": {"model": "x"}})
    assert patched.status_code == 400 and patched.json()["error"]["code"] == "model_unavailable"
    assert (await alice.get(f"/api/conversations/{cid}")).json()["settings"][
        "model"
    ] == "fake-model"
    reset = await alice.patch(f"/api/conversations/{cid}", json={"settings": {"model": None}})
    assert reset.status_code == 200 and reset.json()["settings"]["model"] is None
