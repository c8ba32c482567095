"""`kill -9` in the middle of an answer, then a restart: the question and the partial answer are
there, marked `interrupted`; nothing is left `streaming`."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import PASSWORD
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config
from tests.support.streams import SseParser

pytestmark = pytest.mark.slow


def test_kill_during_a_stream_leaves_an_interrupted_partial_answer(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    fake.reply = " ".join(f"word{n}" for n in range(100))
    fake.set_scenario("normal", token_delay=0.1)
    config = write_config(
        tmp_path / "chatgate.toml", providers_for(fake), default_model="fake-model"
    )
    server = ChatGateProcess(tmp_path / "data", config)
    server.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    try:
        client = httpx.Client(base_url=server.url, timeout=30)
        client.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        ).raise_for_status()
        cid = client.post("/api/conversations", json={}).json()["id"]
        parser, deltas = SseParser(), 0
        with client.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "a long answer please"}
        ) as response:
            for chunk in response.iter_bytes():
                deltas += sum(1 for event in parser.feed(chunk) if event.event == "delta")
                if deltas >= 25:  # ~2.5 s in: at least two checkpoints have happened
                    server.kill()
                    break
        client.close()
    finally:
        server.kill()

    restarted = ChatGateProcess(tmp_path / "data", config)
    restarted.port, restarted.url = server.port, server.url
    restarted.start()
    try:
        client = httpx.Client(base_url=restarted.url, timeout=30)
        client.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        ).raise_for_status()
        messages = client.get(f"/api/conversations/{cid}/messages").json()["messages"]
        question, answer = messages
        assert question["content"] == "a long answer please"
        assert answer["status"] == "interrupted"
        assert answer["content"] and fake.reply.startswith(answer["content"])
        assert answer["error"]["code"] == "interrupted"
        client.close()
    finally:
        assert restarted.stop() == 0
    with sqlite3.connect(tmp_path / "data" / "chatgate.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        live = db.execute(
            "SELECT count(*) FROM messages WHERE status IN ('queued', 'streaming')"
        ).fetchone()
        assert live == (0,)
    time.sleep(0)
