"""A credential the upstream refuses rests and is tried again — no restart, no admin action — while
people hear when; the admin console shows each credential's state and can end a rest at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import REPLY, providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of


async def _ask(client: Any) -> tuple[list[Any], dict[str, Any]]:
    cid = (await client.post("/api/conversations", json={})).json()["id"]
    response = await client.post(
        f"/api/conversations/{cid}/messages", json={"content": "hi", "model": "fake-model"}
    )
    events = events_of(response)
    stored = (await client.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    return events, stored


def _error(events: list[Any]) -> dict[str, Any]:
    return dict(data(next(e for e in events if e.event == "error")))


async def _credential(admin: Any, provider: str = "oa", name: str = "1") -> dict[str, Any]:
    rows = (await admin.get("/api/admin/providers")).json()
    row = next(p for p in rows if p["name"] == provider)
    return {"usable": row["usable"], **next(c for c in row["credentials"] if c["name"] == name)}


async def test_a_refused_key_heals_by_itself_within_35_seconds(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    """Acceptance: one credential; 401 once, then normal. Default settings: no restart, no admin."""
    harness: Harness = await make_harness(providers=providers_for(fake))
    alice = await harness.user("alice")
    admin = await harness.user("root", role="admin")
    fake.queue("auth_error")
    refused_at = time.monotonic()
    events, stored = await _ask(alice)
    error = _error(events)
    assert error["code"] == "upstream_resting"
    assert "tried again in" in error["message"] and error["retry_after"] <= 30
    assert stored["error"]["code"] == "upstream_resting"

    seen = await _credential(admin)
    assert seen["state"] == "resting" and seen["usable"] is False
    assert seen["rests"] == 1 and "401" in seen["last_error"]
    next_try = datetime.fromisoformat(seen["next_try_at"])
    assert 0 < (next_try - datetime.fromisoformat(seen["last_error_at"])).total_seconds() <= 30

    # While it rests, people are told at once, and the upstream is not asked.
    calls = fake.calls()
    events, _ = await _ask(alice)
    assert _error(events)["code"] == "upstream_resting"
    assert fake.calls() == calls

    while time.monotonic() - refused_at < 35:
        events, stored = await _ask(alice)
        if data(events[-1]) == {"status": "complete"}:
            break
        await asyncio.sleep(1)
    assert time.monotonic() - refused_at < 35
    assert answer_text(events) == REPLY and stored["status"] == "complete"
    healed = await _credential(admin)
    assert healed["state"] == "ready" and healed["rests"] == 0 and healed["usable"] is True


async def test_each_refusal_in_a_row_doubles_the_rest_and_one_success_clears_it(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=providers_for(fake), credential_rest_seconds=0.5
    )
    alice = await harness.user("alice")
    admin = await harness.user("root", role="admin")
    rests = []
    for _ in range(3):
        fake.queue("auth_error")
        events, _ = await _ask(alice)
        assert _error(events)["code"] == "upstream_resting"
        row = await _credential(admin)
        rests.append(row["cooling_down_seconds"])
        await asyncio.sleep(row["cooling_down_seconds"] + 0.2)
    assert rests[0] <= 0.5 < rests[1] <= 1.0 < rests[2] <= 2.0
    events, _ = await _ask(alice)
    assert data(events[-1]) == {"status": "complete"}
    assert (await _credential(admin))["rests"] == 0


@pytest.mark.parametrize("scenario", ["payment_required", "insufficient_quota"])
async def test_unpaid_and_exhausted_accounts_rest_the_credential_too(
    make_harness: Callable[..., Any], fake: FakeUpstream, scenario: str
) -> None:
    harness: Harness = await make_harness(providers=providers_for(fake))
    alice = await harness.user("alice")
    admin = await harness.user("root", role="admin")
    if scenario == "payment_required":
        fake.queue({"name": "server_error", "status": 402})
    else:
        fake.queue("insufficient_quota")
    events, _ = await _ask(alice)
    assert _error(events)["code"] == "upstream_resting"
    assert (await _credential(admin))["state"] == "resting"


async def test_a_second_key_takes_over_while_the_first_rests(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    providers = providers_for(fake)
    providers[0]["credentials"].append({"name": "spare", "api_key": "sk-test-spare-key-00000"})
    harness: Harness = await make_harness(providers=providers)
    alice = await harness.user("alice")
    admin = await harness.user("root", role="admin")
    fake.queue("auth_error")
    events, _ = await _ask(alice)
    assert data(events[-1]) == {"status": "complete"}, events[-3:]
    assert answer_text(events) == REPLY
    refused = await _credential(admin, name="1")
    spare = await _credential(admin, name="spare")
    assert sorted([refused["state"], spare["state"]]) == ["ready", "resting"]
    assert refused["usable"] is True


async def test_try_now_ends_the_rest_and_is_audited(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(providers=providers_for(fake))
    alice = await harness.user("alice")
    admin = await harness.user("root", role="admin")
    fake.queue("auth_error")
    events, _ = await _ask(alice)
    assert (await _credential(admin))["state"] == "resting"

    assert (await alice.post("/api/admin/providers/oa/credentials/1/retry")).status_code == 403
    missing = await admin.post("/api/admin/providers/oa/credentials/nope/retry")
    assert missing.status_code == 404
    assert (await admin.post("/api/admin/providers/oa/credentials/1/retry")).status_code == 204
    assert (await _credential(admin))["state"] == "ready"
    events, _ = await _ask(alice)
    assert data(events[-1]) == {"status": "complete"}
    audit = (await admin.get("/api/admin/audit")).json()
    assert any(entry["action"] == "credential.try_now" for entry in audit)


async def test_openai_clients_hear_when_the_credentials_are_tried_again(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(providers=providers_for(fake))
    alice = await harness.user("alice")
    key = (await alice.post("/api/account/keys", json={"name": "t"})).json()["key"]
    api = await harness.client(headers={"authorization": f"Bearer {key}"})
    fake.queue("auth_error")
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    first = await api.post("/v1/chat/completions", json=body)
    assert first.status_code == 503, first.text
    assert first.json()["error"]["code"] == "upstream_resting"
    assert 1 <= int(first.headers["retry-after"]) <= 30
    second = await api.post("/v1/chat/completions", json=body)
    assert second.status_code == 503 and "retry-after" in second.headers
