"""Nothing acknowledged is lost: many concurrent writers on SQLite never see "database is locked",
and a full disk is a clear error from which ChatGate recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import PASSWORD, Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config
from tests.support.streams import data, events_of

pytestmark = pytest.mark.slow


async def test_a_hundred_people_times_ten_messages_at_once(
    chat: Harness, fake: FakeUpstream
) -> None:
    fake.reply = "ok, noted"
    users = [await chat.user(f"person{n:03d}") for n in range(100)]

    async def talk(client: httpx.AsyncClient) -> list[int]:
        cid = (await client.post("/api/conversations", json={})).json()["id"]
        statuses = []
        for n in range(10):
            response = await client.post(
                f"/api/conversations/{cid}/messages", json={"content": f"note {n}"}
            )
            statuses.append(response.status_code)
            assert data(events_of(response)[-1]) == {"status": "complete"}
        return statuses

    results = await asyncio.gather(*(talk(c) for c in users))
    assert all(s == 200 for statuses in results for s in statuses)
    (complete,) = await chat.sql("SELECT count(*) FROM messages WHERE status = 'complete'")
    assert complete == 2000


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"CANNOT MOUNT A SMALL TMPFS (needs root): the disk-full test did not run: {mounted.stderr!r}"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_is_a_clear_error_and_chatgate_recovers(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    fake.reply = "x" * 2000
    with small_disk(tmp_path / "disk", "4m") as disk:
        config = write_config(tmp_path / "chatgate.toml", providers_for(fake))
        server = ChatGateProcess(disk / "data", config)
        server.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        server.start()
        filler = disk / "filler"
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                client.post(
                    "/api/auth/login", json={"username": "alice", "password": PASSWORD}
                ).raise_for_status()
                cid = client.post("/api/conversations", json={}).json()["id"]
                kept = client.post(
                    f"/api/conversations/{cid}/messages", json={"content": "before the disk filled"}
                )
                assert data(events_of(kept)[-1]) == {"status": "complete"}
                with filler.open("wb") as fh, contextlib.suppress(OSError):
                    while True:
                        fh.write(os.urandom(64 * 1024))
                        fh.flush()
                outcomes = []
                for n in range(5):
                    response = client.post(
                        f"/api/conversations/{cid}/messages",
                        json={"content": f"no room {n} " + uuid.uuid4().hex * 50},
                    )
                    outcomes.append(response)
                errors = [
                    r for r in outcomes if r.status_code != 200 or '"status":"error"' in r.text
                ]
                assert errors, "a full disk must be reported"
                for response in errors:
                    body = response.text
                    assert response.status_code in (200, 503, 507), body
                    assert "storage_full" in body or "storage_unavailable" in body, body
                assert client.get("/healthz").status_code == 200

                filler.unlink()
                recovered = client.post(
                    f"/api/conversations/{cid}/messages", json={"content": "after space returned"}
                )
                assert data(events_of(recovered)[-1]) == {"status": "complete"}
                messages = client.get(f"/api/conversations/{cid}/messages").json()["messages"]
                assert messages[0]["content"] == "before the disk filled"
                assert messages[-1]["status"] == "complete"
        finally:
            server.stop()
        with sqlite3.connect(disk / "data" / "chatgate.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
