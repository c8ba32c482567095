"""Guests of the shared password (and of open mode) cannot mint fresh budgets: a browser that
signs in again keeps its guest, and new guests are limited per address
(`registrations_per_ip`), so `MAX_REQUEST_PER_HOUR` means what it says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream

SHARED = "shared secret phrase"
ADDRESS = ("198.51.100.23", 40000)


async def _harness(make_harness: Callable[..., Any], fake: FakeUpstream, **extra: Any) -> Harness:
    harness: Harness = await make_harness(
        auth_mode="password",
        access_password=SHARED,
        providers=providers_for(fake),
        default_model="fake-model",
        quotas={"requests_per_hour": 1},  # chatgpt-web's MAX_REQUEST_PER_HOUR=1
        **extra,
    )
    return harness


async def _ask(client: httpx.AsyncClient) -> int:
    created = await client.post("/api/conversations", json={})
    if created.status_code != 201:
        return created.status_code
    cid = created.json()["id"]
    answer = await client.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
    return answer.status_code


async def _guests(harness: Harness) -> int:
    row = await harness.sql("SELECT count(*) FROM users WHERE is_anonymous")
    return int(row[0])


async def test_thirty_sign_ins_from_one_address_cannot_mint_thirty_budgets(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake, registrations_per_ip="5/hour")
    signed_in, refused, answers = 0, [], 0
    for _ in range(30):  # a fresh browser (no cookie) each time, as a script would
        browser = await harness.client(peer=ADDRESS)
        response = await browser.post("/api/auth/login", json={"password": SHARED})
        if response.status_code != 200:
            refused.append(response)
            continue
        signed_in += 1
        for _ in range(2):
            answers += await _ask(browser) == 200

    assert signed_in == 5
    assert await _guests(harness) == 5
    assert answers == 5 and len(fake.requests) == 5, "one answer per guest, as configured"
    assert len(refused) == 25
    assert all(
        r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" for r in refused
    )
    assert int(refused[0].headers["retry-after"]) > 0
    assert "guest" in refused[0].json()["error"]["message"]

    # Another address is not affected by this one.
    other = await harness.client(peer=("203.0.113.77", 40000))
    assert (await other.post("/api/auth/login", json={"password": SHARED})).status_code == 200


async def test_a_browser_signing_in_again_keeps_its_guest_and_its_used_budget(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake)
    browser = await harness.client(peer=ADDRESS)
    assert (await browser.post("/api/auth/login", json={"password": SHARED})).status_code == 200
    me = (await browser.get("/api/auth/me")).json()
    assert await _ask(browser) == 200

    for _ in range(30):
        again = await browser.post("/api/auth/login", json={"password": SHARED})
        assert again.status_code == 200
        assert again.json()["id"] == me["id"]
        assert await _ask(browser) == 429, "the hourly request was already used"
    assert await _guests(harness) == 1
    assert len(fake.requests) == 1


async def test_a_wrong_shared_password_creates_nobody_and_uses_no_guest_slot(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness = await _harness(make_harness, fake, registrations_per_ip="2/hour")
    browser = await harness.client(peer=ADDRESS)
    for _ in range(5):
        assert (await browser.post("/api/auth/login", json={"password": "nope"})).status_code == 401
    assert await _guests(harness) == 0
    for _ in range(2):
        fresh = await harness.client(peer=ADDRESS)
        assert (await fresh.post("/api/auth/login", json={"password": SHARED})).status_code == 200
    assert await _guests(harness) == 2


async def test_open_mode_guests_are_bounded_the_same_way(make_harness: Callable[..., Any]) -> None:
    harness: Harness = await make_harness(auth_mode="open", registrations_per_ip="3/hour")
    browser = await harness.client(peer=ADDRESS)
    first = (await browser.post("/api/auth/login", json={})).json()["id"]
    for _ in range(5):
        assert (await browser.post("/api/auth/login", json={})).json()["id"] == first
    statuses = [
        (await (await harness.client(peer=ADDRESS)).post("/api/auth/login", json={})).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 429, 429]
    assert await _guests(harness) == 3
