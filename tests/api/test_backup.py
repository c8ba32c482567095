"""`chatgate backup` while people are chatting: the copy opens, passes the integrity check and
holds every message committed before the backup began. `chatgate restore` brings it back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import PASSWORD
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config

pytestmark = pytest.mark.slow


def _chat_until(server: ChatGateProcess, stop: threading.Event, errors: list[str]) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        ).raise_for_status()
        cid = client.post("/api/conversations", json={}).json()["id"]
        n = 0
        while not stop.is_set():
            response = client.post(
                f"/api/conversations/{cid}/messages", json={"content": f"message {n}"}
            )
            if response.status_code != 200 or '"status":"complete"' not in response.text:
                errors.append(response.text[:200])
            n += 1


def test_backup_during_a_load_of_chats(tmp_path: Path, fake: FakeUpstream) -> None:
    fake.reply = "ok " * 20
    config = write_config(tmp_path / "chatgate.toml", providers_for(fake))
    server = ChatGateProcess(tmp_path / "data", config)
    server.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    stop = threading.Event()
    errors: list[str] = []
    workers = [threading.Thread(target=_chat_until, args=(server, stop, errors)) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        database = tmp_path / "data" / "chatgate.db"
        while True:
            with sqlite3.connect(database) as live:
                if (
                    live.execute(
                        "SELECT count(*) FROM messages WHERE status = 'complete'"
                    ).fetchone()[0]
                    > 40
                ):
                    break
        with sqlite3.connect(database) as live:
            before = {
                row[0] for row in live.execute("SELECT id FROM messages WHERE status = 'complete'")
            }
        made = server.cli("backup", str(tmp_path / "copy.db"))
        assert "integrity check passed" in made.stdout
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        assert server.stop() == 0
    assert errors == []
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        saved = {row[0] for row in copy.execute("SELECT id FROM messages")}
    assert before <= saved

    again = subprocess.run(
        [sys.executable, "-m", "chatgate", "backup", str(tmp_path / "copy.db")],
        env=server.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1 and "already exists" in again.stderr

    restored = server.cli("restore", str(tmp_path / "copy.db"))
    assert "previous database is kept" in restored.stdout
    with sqlite3.connect(tmp_path / "data" / "chatgate.db") as db:
        assert {row[0] for row in db.execute("SELECT id FROM messages")} == saved


def test_restore_refuses_a_damaged_file(tmp_path: Path) -> None:
    server = ChatGateProcess(tmp_path / "data")
    server.cli("migrate")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "chatgate", "restore", str(junk)],
        env=server.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "not a usable ChatGate database" in result.stderr


def test_backup_on_postgresql_explains_pg_dump(tmp_path: Path) -> None:
    server = ChatGateProcess(
        tmp_path / "data", CHATGATE_DATABASE_URL="postgresql+psycopg://u:SECRET@db.example/chat"
    )
    result = subprocess.run(
        [sys.executable, "-m", "chatgate", "backup", str(tmp_path / "x.db")],
        env=server.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "pg_dump" in result.stdout and "SECRET" not in result.stdout
