"""Bad input gets a clear 4xx in the one error shape and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Harness


async def _conversation_count(harness: Harness, client) -> int:  # type: ignore[no-untyped-def]
    return len((await client.get("/api/conversations", params={"limit": 100})).json()["items"])


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"title": 12}', "application/json", 422),
        (b'["a list"]', "application/json", 422),
        (b'{"settings": {"temperature": "hot"}}', "application/json", 422),
        (b'{"settings": {"temperature": 9}}', "application/json", 422),
        (b'{"title": "nul\\u0000byte"}', "application/json", 422),
        (b'{"title": "lone \\ud800 surrogate"}', "application/json", 422),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 400),
        (b'{"title": NaN}', "application/json", 422),
        (b"title=x", "application/x-www-form-urlencoded", 422),
    ],
)
async def test_malformed_bodies_are_refused(
    harness: Harness, body: bytes, content_type: str, status: int
) -> None:
    alice = await harness.user("alice")
    response = await alice.post(
        "/api/conversations", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert await _conversation_count(harness, alice) == 0


async def test_ten_megabyte_body_is_refused_before_reading(harness: Harness) -> None:
    alice = await harness.user("alice")
    big = b'{"title": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = await alice.post(
        "/api/conversations", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert await _conversation_count(harness, alice) == 0


async def test_chunked_body_without_length_is_capped_too(harness: Harness) -> None:
    alice = await harness.user("alice")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    response = await alice.post(
        "/api/conversations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert await _conversation_count(harness, alice) == 0


async def test_malformed_ids_and_queries_are_4xx(harness: Harness) -> None:
    alice = await harness.user("alice")
    traversal = await alice.get("/api/conversations/../../etc/passwd")
    assert "root:" not in traversal.text  # at most the web app's own page, never a file
    assert (await alice.get("/api/conversations/not-an-id")).status_code == 422
    assert (await alice.get("/api/conversations", params={"limit": 0})).status_code == 422
    assert (
        await alice.get("/api/conversations", params={"cursor": "%%%garbage"})
    ).status_code == 400
    assert (await alice.get("/api/nothing-here")).status_code == 404


async def test_validation_errors_never_echo_passwords(harness: Harness) -> None:
    client = await harness.client()
    response = await client.post(
        "/api/auth/login", json={"username": ["x"], "password": "hunter2-secret"}
    )
    assert response.status_code == 422
    assert "hunter2-secret" not in response.text
