"""The first request after a start costs no more than the tenth: FastAPI builds each route's
state (parameter models, dependency tree) lazily, on the first request reaching its router
(~0.3 s for the first `/v1` call), and SQLAlchemy compiles each statement on its first use
(4–7 ms over a question's statements); ChatGate builds and compiles both during start-up.

Asserted as "the first requests build and compile nothing", not with a timing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import routing
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import CACHE_MISS

from chatgate.app import GC_THRESHOLDS, create_app
from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.services import rehearsal
from tests.api.conftest import providers_for
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


# The tables a question reads and writes; start-up's other work (the instance heartbeat, the
# console's revision) is not the question's cost.
QUESTION_TABLES = frozenset(
    {"users", "sessions", "api_keys", "chat_defaults", "conversations", "messages", "usage"}
    | {"attachments"}
)


async def statements_a_first_question_compiles(chat: Harness) -> list[str]:
    """Once alice and her API key exist: a new conversation, a question in it, the sidebar and
    the conversation shown again, one `/v1` call; the statements on those paths SQLAlchemy had to
    compile for them."""
    web = await chat.user("alice")
    key = (await web.post("/api/account/keys", json={"name": "script"})).json()["key"]
    api = await chat.client(headers={"authorization": f"Bearer {key}"})
    compiled: list[str] = []

    def record(*args: Any) -> None:
        statement, context = args[2], args[4]
        if context is not None and context.cache_hit is CACHE_MISS:
            compiled.append(" ".join(statement.split()))

    sa.event.listen(Engine, "after_cursor_execute", record)
    try:
        cid = (await web.post("/api/conversations", json={})).json()["id"]
        answer = await web.post(f"/api/conversations/{cid}/messages", json={"content": "Hi"})
        assert answer.status_code == 200 and b"event: done" in answer.content
        assert (await web.get("/api/conversations")).status_code == 200
        assert (await web.get(f"/api/conversations/{cid}/messages")).status_code == 200
        completion = await api.post(
            "/v1/chat/completions",
            json={"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]},
        )
        assert completion.status_code == 200
    finally:
        sa.event.remove(Engine, "after_cursor_execute", record)
    return [s for s in compiled if any(f" {table} " in f" {s} " for table in QUESTION_TABLES)]


async def test_the_first_question_after_a_start_compiles_no_statement(chat: Harness) -> None:
    assert await statements_a_first_question_compiles(chat) == []


async def test_without_the_rehearsal_the_first_question_would_compile(
    make_harness: Any, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe above can see a compile: with the start-up rehearsal left out, it does."""

    async def skipped(self: Database, *args: Any) -> None:
        return None

    monkeypatch.setattr(Database, "rehearse", skipped)
    chat = await make_harness(providers=providers_for(fake), default_model="fake-model")
    compiled = await statements_a_first_question_compiles(chat)
    assert any(s.startswith("INSERT INTO messages") for s in compiled)
    assert any(s.startswith("UPDATE usage") for s in compiled)


async def test_the_rehearsal_leaves_nothing_behind(chat: Harness) -> None:
    def count(s: Any) -> dict[str, int]:
        tables = ("users", "conversations", "messages", "usage")
        return {t: s.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}

    services = chat.services
    await services.db.rehearse(rehearsal.write_a_question, rehearsal.read_any_question)
    assert await services.db.read(count) == {
        "users": 0,
        "conversations": 0,
        "messages": 0,
        "usage": 0,
    }
