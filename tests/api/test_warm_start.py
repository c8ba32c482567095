"""The first request after a start costs no more than the tenth: FastAPI builds each route's
state (parameter models, dependency tree) lazily, on the first request reaching its router
(~0.3 s for the first `/v1` call); ChatGate builds it during start-up, before it accepts.

Asserted as "the first requests build nothing", not with a timing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import routing

from chatgate.app import GC_THRESHOLDS, create_app
from chatgate.config import Settings
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream


@pytest.fixture
def route_builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Paths whose route state FastAPI builds from now on."""
    built: list[str] = []
    original = routing._IncludedRouter._build_effective_context

    def counting(self: Any, route: Any) -> Any:
        built.append(getattr(route, "path", "?"))
        return original(self, route)

    monkeypatch.setattr(routing._IncludedRouter, "_build_effective_context", counting)
    yield built


async def test_the_first_requests_after_a_start_build_no_route_state(
    chat: Harness, fake: FakeUpstream, route_builds: list[str]
) -> None:
    web = await chat.user("alice")
    key = (await web.post("/api/account/keys", json={"name": "script"})).json()["key"]
    api = await chat.client(headers={"authorization": f"Bearer {key}"})
    answer = await api.post(
        "/v1/chat/completions",
        json={"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert answer.status_code == 200
    assert (await web.get("/api/conversations")).status_code == 200
    assert route_builds == []


def test_without_the_warm_up_the_first_request_would_build_them(
    make_settings: Any, route_builds: list[str]
) -> None:
    """The probe above can see a build: an app that has not started builds on first use."""
    settings: Settings = make_settings()
    app = create_app(settings)
    list(routing.iter_route_contexts(app.router.routes))
    assert "/v1/chat/completions" in route_builds


async def test_start_up_freezes_what_it_made_and_shutdown_releases_it(
    chat: Harness,
) -> None:
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == GC_THRESHOLDS
    await chat.close()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() != GC_THRESHOLDS
