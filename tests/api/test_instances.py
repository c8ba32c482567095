"""Several instances on one PostgreSQL and one Redis: streams re-attach and stop through any
instance, a credential's concurrency and the fairness between people hold across instances, a
person's hourly limit counts every instance, a dead instance's answers become `interrupted`,
and signing out on one ends the session on all. Without Redis a second instance is refused."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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
REDIS = "redis://127.0.0.1:6379/14"


@pytest.fixture
def database() -> Iterator[str]:
    name = f"chatgate_instances_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except (psycopg.OperationalError, redis.ConnectionError) as exc:
        pytest.skip(
            f"POSTGRESQL AND REDIS ARE NEEDED for the multi-instance tests and are not reachable: {exc}"
        )
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def two_instances(
    tmp_path: Path, fake: FakeUpstream, database: str, **settings: Any
) -> Iterator[tuple[ChatGateProcess, ChatGateProcess]]:
    config = write_config(
        tmp_path / "chatgate.toml",
        providers_for(fake, concurrency=settings.pop("concurrency", 4)),
        **settings,
    )
    env = {
        "CHATGATE_DATABASE_URL": database,
        "CHATGATE_REDIS_URL": REDIS,
        "CHATGATE_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
    }
    a = ChatGateProcess(tmp_path / "a", config, **env)
    b = ChatGateProcess(tmp_path / "b", config, **env)
    a.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    a.cli("user", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


_open_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def signed_in(
    server: ChatGateProcess, username: str = "alice", cookies: Any = None
) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30, cookies=cookies)
    _open_clients.append(client)
    if cookies is None:
        client.post(
            "/api/auth/login", json={"username": username, "password": PASSWORD}
        ).raise_for_status()
    return client


class Reader:
    """Reads one event stream a bit at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.iter_bytes()
        self.parser = SseParser()
        self.events: list[Any] = []

    def until(self, stop: Any) -> list[Any]:
        start = len(self.events)
        for chunk in self.chunks:
            self.events += self.parser.feed(chunk)
            if stop(self.events[start:]):
                break
        return self.events[start:]


def read_until(response: httpx.Response, stop: Any) -> list[Any]:
    return Reader(response).until(stop)


def test_stream_started_on_a_reattaches_and_stops_through_b(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    fake.reply = " ".join(f"w{n}" for n in range(40))
    fake.set_scenario("normal", token_delay=0.05)
    with two_instances(tmp_path, fake, database) as (a, b):
        on_a = signed_in(a)
        on_b = signed_in(b, cookies=dict(on_a.cookies))
        cid = on_a.post("/api/conversations", json={}).json()["id"]
        with on_a.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
        ) as response:
            first = read_until(response, lambda ev: sum(e.event == "delta" for e in ev) >= 5)
        generation = json.loads(first[0].data)["message_id"]
        last = int(first[-1].id or 0)
        with on_b.stream(
            "GET", f"/api/generations/{generation}/events", headers={"Last-Event-ID": str(last)}
        ) as response:
            rest = read_until(response, lambda ev: bool(ev) and ev[-1].event == "done")
        assert int(rest[0].id or 0) == last + 1
        assert rest[-1].event == "done" and '"complete"' in rest[-1].data
        text = "".join(json.loads(e.data)["text"] for e in first + rest if e.event == "delta")
        assert text == fake.reply

        fake.set_scenario("normal", token_delay=0.2)
        with on_a.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "again"}
        ) as response:
            reader = Reader(response)
            events = reader.until(lambda ev: sum(e.event == "delta" for e in ev) >= 3)
            generation = json.loads(events[0].data)["message_id"]
            stopped_at = time.monotonic()
            assert on_b.post(f"/api/generations/{generation}/stop").json()["status"] == "stopped"
            rest = reader.until(lambda ev: bool(ev) and ev[-1].event == "done")
        assert fake.requests[-1].closed_by_client_at is not None
        assert fake.requests[-1].closed_by_client_at - stopped_at < 1.0
        assert '"stopped"' in rest[-1].data


def test_one_at_a_time_across_instances_and_fair_between_people(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    fake.reply = " ".join("abcdefghijklmnopqrst")
    fake.set_scenario("normal", token_delay=0.05)
    with two_instances(tmp_path, fake, database, concurrency=1) as (a, b):
        alice, bob = signed_in(a, "alice"), signed_in(b, "bob")
        results: list[str] = []
        conversations = {
            name: client.post("/api/conversations", json={}).json()["id"]
            for name, client in [*((f"alice {n}", alice) for n in range(4)), ("bob 0", bob)]
        }

        def ask(client: httpx.Client, content: str) -> None:
            cid = conversations[content]
            response = client.post(f"/api/conversations/{cid}/messages", json={"content": content})
            results.append(response.text)

        # Alice's four are queued while her first runs (about a second); then Bob asks once.
        threads = [threading.Thread(target=ask, args=(alice, f"alice {n}")) for n in range(4)]
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        bob_thread = threading.Thread(target=ask, args=(bob, "bob 0"))
        bob_thread.start()
        for thread in [*threads, bob_thread]:
            thread.join()
    assert all('"status":"complete"' in r for r in results)
    spans = sorted((r.received_at, r.finished_at or 0) for r in fake.requests)
    assert all(later[0] >= earlier[1] - 0.01 for earlier, later in itertools.pairwise(spans)), (
        "never two at once"
    )
    served = [
        r.json["messages"][-1]["content"]
        for r in sorted(fake.requests, key=lambda r: r.received_at)
    ]
    alices = [s for s in served if s.startswith("alice")]
    assert served.index("bob 0") <= served.index(alices[1]), served


def test_hourly_limit_counts_requests_through_either_instance(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with two_instances(tmp_path, fake, database, quotas={"requests_per_hour": 2}) as (a, b):
        on_a = signed_in(a)
        on_b = signed_in(b, cookies=dict(on_a.cookies))
        cid = on_a.post("/api/conversations", json={}).json()["id"]
        assert (
            on_a.post(f"/api/conversations/{cid}/messages", json={"content": "1"}).status_code
            == 200
        )
        assert (
            on_b.post(f"/api/conversations/{cid}/messages", json={"content": "2"}).status_code
            == 200
        )
        assert (
            on_a.post(f"/api/conversations/{cid}/messages", json={"content": "3"}).status_code
            == 429
        )
        assert (
            on_b.post(f"/api/conversations/{cid}/messages", json={"content": "3"}).status_code
            == 429
        )


def test_signing_out_on_one_instance_ends_the_session_on_the_other(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with two_instances(tmp_path, fake, database) as (a, b):
        on_a = signed_in(a)
        on_b = signed_in(b, cookies=dict(on_a.cookies))
        assert on_b.get("/api/auth/me").status_code == 200
        on_a.post("/api/auth/logout").raise_for_status()
        assert on_b.get("/api/auth/me").status_code == 401


def test_killing_an_instance_mid_answer_interrupts_it_on_the_survivor(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    fake.reply = " ".join(f"w{n}" for n in range(300))
    fake.set_scenario("normal", token_delay=0.05)
    with two_instances(tmp_path, fake, database) as (a, b):
        on_a = signed_in(a)
        on_b = signed_in(b, cookies=dict(on_a.cookies))
        cid = on_a.post("/api/conversations", json={}).json()["id"]
        with on_a.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "long"}
        ) as response:
            read_until(response, lambda ev: sum(e.event == "delta" for e in ev) >= 40)
            a.kill()
        killed_at = time.monotonic()
        deadline = killed_at + 30
        while time.monotonic() < deadline:
            answer = on_b.get(f"/api/conversations/{cid}/messages").json()["messages"][-1]
            if answer["status"] == "interrupted":
                break
            time.sleep(0.5)
        assert answer["status"] == "interrupted", answer["status"]
        assert answer["content"] and fake.reply.startswith(answer["content"])
        with psycopg.connect(database.replace("+psycopg", "")) as conn:
            assert conn.execute(
                "SELECT count(*) FROM messages WHERE status IN ('queued', 'streaming')"
            ).fetchone() == (0,)


def test_a_second_instance_without_redis_is_refused(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    config = write_config(tmp_path / "chatgate.toml", providers_for(fake))
    first = ChatGateProcess(tmp_path / "a", config, CHATGATE_DATABASE_URL=database)
    first.start()
    try:
        second = ChatGateProcess(tmp_path / "b", config, CHATGATE_DATABASE_URL=database)
        with pytest.raises(RuntimeError, match="Another ChatGate instance"):
            second.start()
        assert "CHATGATE_REDIS_URL" in second.log.read_text()
    finally:
        first.stop()
