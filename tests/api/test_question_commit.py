"""The upstream is asked while the question's commit is on its way to disk; the person sees
nothing before it has landed, and a question whose commit fails is never answered: its upstream
request stops and the error says why.

Runs on SQLite, and on PostgreSQL + Redis with TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import data, events_of, iter_events

HELD = 0.4  # seconds a commit is held back


class CommitGate:
    """Holds back (or fails) the commit of the next transaction that stores a message, once
    armed."""

    def __init__(self) -> None:
        self.armed = False
        self.fail = False
        self.released_at: float | None = None
        self._lock = threading.Lock()

    def on_statement(self, connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            with self._lock:
                if self.armed:
                    self.armed = False
                    connection.info["held"] = True

    def on_commit(self, connection: Any) -> None:
        if not connection.info.pop("held", False):
            return
        time.sleep(HELD)
        self.released_at = time.monotonic()
        if self.fail:
            raise OperationalError("COMMIT", {}, Exception("database or disk is full"))


@pytest.fixture
def commit_gate(chat: Harness) -> Iterator[CommitGate]:
    gate = CommitGate()
    engine = chat.services.db._write_engine
    event.listen(engine, "before_cursor_execute", gate.on_statement)
    event.listen(engine, "commit", gate.on_commit)
    yield gate
    event.remove(engine, "commit", gate.on_commit)
    event.remove(engine, "before_cursor_execute", gate.on_statement)


async def _conversation(
    chat: Harness, fake: FakeUpstream, *, token_delay: float
) -> tuple[Any, str]:
    fake.reply = "one two three four five six"
    fake.set_scenario("normal", token_delay=token_delay)
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    return await chat.remote_user(alice), cid


async def test_the_upstream_is_asked_while_the_question_commits_and_nothing_shows_before(
    chat: Harness, fake: FakeUpstream, commit_gate: CommitGate
) -> None:
    remote, cid = await _conversation(chat, fake, token_delay=0.01)
    asked = len(fake.requests)
    commit_gate.armed = True
    sent_at = time.monotonic()
    async with remote.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
    ) as response:
        headers_at = time.monotonic()
        events = [event async for event in iter_events(response)]
    assert commit_gate.released_at is not None, "the question's commit was not the one held"
    (request,) = fake.requests[asked:]
    # Asked while the commit was held back ...
    assert sent_at < request.received_at < commit_gate.released_at
    # ... and nothing reached the person before it landed.
    assert headers_at >= commit_gate.released_at
    assert events[0].event == "start"
    assert data(events[-1]) == {"status": "complete"}
    messages = (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    assert [m["content"] for m in messages] == ["go", "one two three four five six"]


async def test_a_question_whose_commit_fails_is_not_answered_and_the_error_says_why(
    chat: Harness, fake: FakeUpstream, commit_gate: CommitGate
) -> None:
    remote, cid = await _conversation(chat, fake, token_delay=0.3)
    asked = len(fake.requests)
    commit_gate.armed, commit_gate.fail = True, True
    response = await remote.post(f"/api/conversations/{cid}/messages", json={"content": "lost"})
    assert response.status_code == 507, response.text
    assert response.json()["error"]["code"] == "storage_full"
    # The upstream had been asked while the commit was on its way, and was told to stop.
    (request,) = fake.requests[asked:]
    assert commit_gate.released_at is not None and request.received_at < commit_gate.released_at
    await _eventually(lambda: request.closed_by_client_at is not None)
    assert request.tokens_sent <= 1
    assert (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"] == []
    (reserved,) = await chat.sql("SELECT count(*) FROM usage")
    assert reserved == 0, "a question never stored reserves nothing"

    # The next question is answered and stored as ever.
    fake.set_scenario("normal", token_delay=0.0)
    after = await remote.post(f"/api/conversations/{cid}/messages", json={"content": "again"})
    assert data(events_of(after)[-1]) == {"status": "complete"}
    messages = (await remote.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    assert [m["content"] for m in messages] == ["again", "one two three four five six"]


async def _eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        await asyncio.sleep(0.02)
