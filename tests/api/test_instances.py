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


def _parallel_asks(
    a: ChatGateProcess, b: ChatGateProcess, count: int
) -> tuple[list[httpx.Response], httpx.Client]:
    """`count` questions of one person at once, half through each instance."""
    on_a = signed_in(a)
    on_b = signed_in(b, cookies=dict(on_a.cookies))
    clients = [on_a, on_b]
    conversations = [
        clients[n % 2].post("/api/conversations", json={}).json()["id"] for n in range(count)
    ]
    barrier = threading.Barrier(count)
    responses: list[httpx.Response] = []

    def ask(n: int) -> None:
        barrier.wait()
        cid = conversations[n]
        responses.append(
            clients[n % 2].post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
        )

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses, on_a


def test_sixty_at_once_over_two_instances_admit_exactly_the_hourly_limit(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    with two_instances(tmp_path, fake, database, quotas={"requests_per_hour": 5}) as (a, b):
        responses, _ = _parallel_asks(a, b, 60)
    assert sorted(r.status_code for r in responses).count(200) == 5, [
        r.status_code for r in responses
    ]
    assert all(r.status_code in (200, 429) for r in responses)
    assert fake.calls() == 5


def test_a_token_budget_holds_over_two_instances(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    budget = 100
    fake.reply = " ".join(f"word{n}" for n in range(400))
    with two_instances(tmp_path, fake, database, quotas={"tokens_per_day": budget}) as (a, b):
        responses, _ = _parallel_asks(a, b, 60)
    assert any(r.status_code == 200 for r in responses)
    assert all(0 < r.json["max_tokens"] <= budget for r in fake.requests)
    with psycopg.connect(database.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage")
        spent = row.fetchone()
    assert spent is not None
    longest = max(r.json["max_tokens"] for r in fake.requests)
    assert spent[0] <= budget + longest, spent


def test_a_reader_on_b_outlasts_silence_and_hears_when_a_dies(
    tmp_path: Path, fake: FakeUpstream, database: str
) -> None:
    """A stream on A, followed through B: 30 s of upstream silence do not cut it; `kill -9` of A
    ends it with `interrupted`; A's /v1 request and reservations are released within a minute."""
    fake.set_scenario("long_pause", after_tokens=3, pause=120)
    with two_instances(
        tmp_path, fake, database, quotas={"concurrent_generations": 2, "tokens_per_day": 100_000}
    ) as (a, b):
        on_a = signed_in(a)
        on_b = signed_in(b, cookies=dict(on_a.cookies))
        key = on_a.post("/api/account/keys", json={"name": "tool"}).json()["key"]
        api = httpx.Client(base_url=a.url, timeout=60, headers={"authorization": f"Bearer {key}"})
        _open_clients.append(api)
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        api_stream = api.stream("POST", "/v1/chat/completions", json={**body, "stream": True})
        api_response = api_stream.__enter__()
        next(api_response.iter_bytes())  # the /v1 answer has started on A

        cid = on_a.post("/api/conversations", json={}).json()["id"]
        with on_a.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
        ) as response:
            first = read_until(response, lambda ev: sum(e.event == "delta" for e in ev) >= 3)
        generation = json.loads(first[0].data)["message_id"]

        events: list[Any] = []
        failure: list[BaseException] = []

        def follow() -> None:
            try:
                with on_b.stream(
                    "GET",
                    f"/api/generations/{generation}/events",
                    headers={"Last-Event-ID": first[-1].id or "0"},
                    timeout=httpx.Timeout(60, read=40),
                ) as followed:
                    parser = SseParser()
                    for chunk in followed.iter_bytes():
                        events.extend(parser.feed(chunk))
                        if events and events[-1].event == "done":
                            return
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failure.append(exc)

        reader = threading.Thread(target=follow)
        reader.start()
        time.sleep(32)  # silence from the upstream; B's reader must still be there
        assert reader.is_alive() and not failure, (
            failure,
            [(e.event, e.data[:80]) for e in events[-5:]],
        )

        a.kill()
        killed_at = time.monotonic()
        reader.join(timeout=60)
        assert not reader.is_alive() and not failure, failure
        assert events[-1].event == "done" and '"interrupted"' in events[-1].data
        assert time.monotonic() - killed_at < 60
        with contextlib.suppress(Exception):
            api_stream.__exit__(None, None, None)

        deadline = killed_at + 60
        live: tuple[int, ...] | None = None
        while time.monotonic() < deadline:
            with psycopg.connect(database.replace("+psycopg", "")) as conn:
                live = conn.execute(
                    "SELECT count(*) FROM usage WHERE status IN ('queued', 'streaming')"
                ).fetchone()
            if live == (0,):
                break
            time.sleep(1)
        assert live == (0,), "the dead instance's /v1 request still holds its reservation"
        # Both of the person's concurrent slots are free again.
        fake.set_scenario("normal")
        again = on_b.post("/api/conversations", json={}).json()["id"]
        assert (
            on_b.post(f"/api/conversations/{again}/messages", json={"content": "x"}).status_code
            == 200
        )
