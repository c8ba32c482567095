"""Two instances on one PostgreSQL and one Redis: what the admin console changes on one applies on
the other within seconds, without a restart (issue 18, acceptance 3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.api.test_instances import database, signed_in, two_instances
from tests.conftest import PASSWORD
from tests.fakes.sse import parse_sse
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
__all__ = ["database"]  # the fixture, used by name
KEY = "sk-console-two-instances-0123456789"


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """How long until `check()` held; fails after `seconds`."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - start


def _models(client: httpx.Client) -> set[str]:
    return {m["id"] for m in client.get("/api/models").json()["models"]}


def test_a_credential_added_on_a_serves_b_and_a_model_disabled_on_b_leaves_a(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with (
        FakeUpstream(reply="from the console", valid_keys=[KEY], models=["console-model"]) as up,
        two_instances(tmp_path, fake, database) as (a, b),
    ):
        a.cli("user", "add", "root", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
        admin_a, alice_b = signed_in(a, "root"), signed_in(b, "alice")
        created = admin_a.post(
            "/api/admin/upstreams/providers",
            json={
                "name": "console",
                "kind": "openai",
                "base_url": f"{up.base_url}/v1",
                "api_key": KEY,
                "models": ["console-model"],
            },
        )
        assert created.status_code == 201, created.text
        _within(5, lambda: "console-model" in _models(alice_b))
        cid = alice_b.post("/api/conversations", json={}).json()["id"]
        answer = alice_b.post(
            f"/api/conversations/{cid}/messages", json={"content": "hi", "model": "console-model"}
        )
        events = parse_sse(answer.content)
        assert answer_text(events) == "from the console" and events[-1].event == "done"
        assert up.requests[-1].headers["authorization"] == f"Bearer {KEY}"

        admin_b, alice_a = signed_in(b, "root"), signed_in(a, "alice")
        assert "console-model" in _models(alice_a)
        disabled = admin_b.put(
            "/api/admin/upstreams/models/console/console-model", json={"enabled": False}
        )
        assert disabled.status_code == 200, disabled.text
        assert "console-model" not in _models(signed_in(b, "alice"))  # at once where it was made
        _within(5, lambda: "console-model" not in _models(alice_a))
        refused = alice_a.post(
            f"/api/conversations/{cid}/messages", json={"content": "hi", "model": "console-model"}
        )
        assert refused.status_code == 400
