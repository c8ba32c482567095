"""`chatgate serve --workers N`, as an operator runs it (the venv's `chatgate` binary, real
processes, PostgreSQL + Redis, a fake upstream): both workers take connections on the one port,
a stream started through one continues through the other, SIGTERM stops every worker with the
answers in flight ended properly, a killed worker comes back, and a worker that keeps dying (or
cannot start) stops ChatGate with an error. Without Redis, or on SQLite, --workers is refused."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
import redis

from tests.api.conftest import providers_for
from tests.conftest import PASSWORD
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config
from tests.support.streams import SseParser

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/13"
CHATGATE = str(Path(sys.executable).parent / "chatgate")
GRACE = 2  # shutdown_grace_seconds: answers get this long to finish on SIGTERM


@pytest.fixture
def database() -> Iterator[str]:
    """A scratch PostgreSQL database; skips, saying so, without PostgreSQL and Redis."""
    name = f"chatgate_workers_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except (psycopg.OperationalError, redis.ConnectionError) as exc:
        pytest.skip(f"POSTGRESQL AND REDIS ARE NEEDED for the --workers tests: {exc}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Workers(ChatGateProcess):
    """`chatgate serve --workers N` (the supervisor) and its worker processes."""

    def start_workers(self, count: int = 2, timeout: float = 40.0) -> Workers:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    CHATGATE,
                    "serve",
                    "--workers",
                    str(count),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while "ChatGate is serving" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chatgate --workers did not start:\n{self.output()}")
            time.sleep(0.1)
        return self

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def workers(self) -> list[psutil.Process]:
        assert self.process is not None
        found = []
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.Error):  # a worker that just died
                alive = child.status() != psutil.STATUS_ZOMBIE
                if alive and "spawn_main" in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def serving_pid(self, client: httpx.Client) -> int:
        """Which worker serves `client`'s kept-alive connection."""
        response = client.get("/healthz")
        response.raise_for_status()
        return self.pid_serving(response)

    def pid_serving(self, response: httpx.Response) -> int:
        """Which worker holds the server side of the (open) connection `response` came on."""
        _, port = response.extensions["network_stream"].get_extra_info("client_addr")
        for worker in self.workers():
            for conn in worker.net_connections(kind="tcp"):
                if conn.laddr.port == self.port and conn.raddr and conn.raddr.port == port:
                    return int(worker.pid)
        raise AssertionError(f"no worker holds the connection from port {port}")


@contextlib.contextmanager
def running(tmp_path: Path, fake: FakeUpstream, database: str, **env: str) -> Iterator[Workers]:
    config = write_config(
        tmp_path / "chatgate.toml", providers_for(fake), shutdown_grace_seconds=GRACE
    )
    server = Workers(
        tmp_path / "data",
        config,
        **{
            "CHATGATE_DATABASE_URL": database,
            "CHATGATE_REDIS_URL": REDIS,
            "CHATGATE_REDIS_PREFIX": f"w{uuid.uuid4().hex[:8]}",
            **env,
        },
    )
    server.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    try:
        yield server
    finally:
        server.stop()


def signed_in(server: Workers, cookies: Any = None) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30, cookies=cookies)
    if cookies is None:
        client.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        ).raise_for_status()
    return client


def read_until(chunks: Iterator[bytes], parser: SseParser, stop: Any) -> list[Any]:
    events: list[Any] = []
    for chunk in chunks:
        events += parser.feed(chunk)
        if stop(events):
            break
    return events


def test_two_workers_share_the_port_and_a_stream_continues_through_the_other(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    fake.reply = " ".join(f"w{n}" for n in range(40))
    fake.set_scenario("normal", token_delay=0.05)
    with running(tmp_path, fake, database) as server:
        server.start_workers(2)
        assert server.output().count("ChatGate is serving") == 1
        workers = {w.pid for w in server.workers()}
        assert len(workers) == 2
        # The kernel spreads new connections over both workers' sockets.
        seen: set[int] = set()
        for _ in range(40):
            with httpx.Client(base_url=server.url, timeout=10) as client:
                seen.add(server.serving_pid(client))
            if seen == workers:
                break
        assert seen == workers

        owner_client = signed_in(server)
        cid = owner_client.post("/api/conversations", json={}).json()["id"]
        owner = server.serving_pid(owner_client)
        with owner_client.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
        ) as response:
            first = read_until(
                response.iter_bytes(),
                SseParser(),
                lambda ev: sum(e.event == "delta" for e in ev) >= 5,
            )
        generation = json.loads(first[0].data)["message_id"]
        last = int(first[-1].id or 0)
        # A new connection on the other worker re-attaches from the last event seen.
        for _ in range(40):
            other = signed_in(server, cookies=dict(owner_client.cookies))
            if server.serving_pid(other) != owner:
                break
            other.close()
        else:
            raise AssertionError("no connection reached the other worker")
        with other.stream(
            "GET", f"/api/generations/{generation}/events", headers={"Last-Event-ID": str(last)}
        ) as response:
            assert server.pid_serving(response) != owner
            rest = read_until(
                response.iter_bytes(), SseParser(), lambda ev: bool(ev) and ev[-1].event == "done"
            )
        other.close()
        owner_client.close()
        assert int(rest[0].id or 0) == last + 1
        assert rest[-1].event == "done" and '"complete"' in rest[-1].data
        text = "".join(json.loads(e.data)["text"] for e in first + rest if e.event == "delta")
        assert text == fake.reply


def test_a_killed_worker_is_restarted_and_sigterm_stops_them_all(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with running(tmp_path, fake, database) as server:
        server.start_workers(2)
        before = {w.pid for w in server.workers()}
        victim = min(before)
        psutil.Process(victim).kill()
        deadline = time.monotonic() + 30
        while len(after := {w.pid for w in server.workers()} - {victim}) < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        assert "a worker died; restarting it" in server.output()
        while "the restarted worker listens again" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200

        # An answer in flight when SIGTERM comes ends properly: finished, or stored interrupted.
        fake.reply = " ".join(f"w{n}" for n in range(200))
        fake.set_scenario("normal", token_delay=0.1)
        client = signed_in(server)
        cid = client.post("/api/conversations", json={}).json()["id"]
        with client.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "long"}
        ) as response:
            chunks = response.iter_bytes()
            parser = SseParser()
            read_until(chunks, parser, lambda ev: any(e.event == "delta" for e in ev))
            assert server.process is not None
            stopped_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            rest = read_until(chunks, parser, lambda ev: bool(ev) and ev[-1].event == "done")
        client.close()
        assert '"interrupted"' in rest[-1].data
        assert server.process.wait(timeout=GRACE + 20) == 0, server.output()
        assert time.monotonic() - stopped_at < GRACE + 15
        assert not any(psutil.pid_exists(pid) for pid in after), "every worker stopped"
        with psycopg.connect(database.replace("+psycopg", "")) as conn:
            statuses = conn.execute("SELECT status FROM messages WHERE role = 'assistant'")
            assert [row[0] for row in statuses] == ["interrupted"]


def test_a_worker_that_keeps_dying_stops_chatgate(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with running(tmp_path, fake, database) as server:
        server.start_workers(2)
        killed: set[int] = set()
        deadline = time.monotonic() + 90
        while server.process is not None and server.process.poll() is None:
            assert time.monotonic() < deadline, server.output()
            fresh = [w for w in server.workers() if w.pid not in killed]
            # Both up: kill the newer one, which after the first kill is the restarted one.
            if len(fresh) == 2:
                target = max(fresh, key=lambda w: w.create_time())
                killed.add(target.pid)
                with contextlib.suppress(psutil.NoSuchProcess):
                    target.kill()
            time.sleep(0.2)
        assert server.process is not None and server.process.returncode == 1
        assert "a worker keeps dying; stopping ChatGate" in server.output()


def test_workers_that_cannot_start_stop_chatgate_with_an_error(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with running(tmp_path, fake, database, CHATGATE_REDIS_URL="redis://127.0.0.1:1/0") as server:
        with pytest.raises(RuntimeError, match="a worker stopped while starting"):
            server.start_workers(2)
        assert server.process is not None and server.process.wait(timeout=30) == 1
