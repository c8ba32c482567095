"""A 50 MB import by one user does not stall anyone else (issue 15, acceptance 5).

The app is served on a real socket; a fake upstream streams an answer to alice a token every
20 ms while bob uploads a generated 50 MB chatgpt-web export, and /healthz is polled every 20 ms.
While the import is in flight (upload, parse, rows written), no gap between alice's events may
exceed 100 ms and /healthz must answer within 100 ms every time. Everything but the upstream, the
clients included, shares the server's event loop: any stall of the loop shows up in the numbers.
The fake upstream runs in a process of its own, as a real one would: in a thread of this process
it would compete with the server for the GIL, which no deployment does.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.exports import write_chatgpt_web_export
from tests.support.streams import data, iter_events

pytestmark = pytest.mark.slow

TARGET_BYTES = 50 * 1000 * 1000
LIMIT_SECONDS = 0.100
TOKEN_DELAY = 0.02


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """`python -m tests.fakes.upstream`: 5,000 tokens, one every 20 ms (longer than the import)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.upstream",
            "--port",
            "0",
            "--reply",
            "tok " * 5000,
            "--token-delay",
            str(TOKEN_DELAY),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield _Remote(url)  # type: ignore[misc]
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


class _Remote:
    """What providers_for needs of a FakeUpstream."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


class StallWatch:
    """Where the loop's thread was when it stopped answering for more than `threshold` seconds
    (a thread that looks at it every 10 ms): what a failure of this test should point at."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float = 0.06) -> None:
        self.loop, self.threshold = loop, threshold
        self.beat = time.perf_counter()
        self.stalls: list[str] = []
        self._stop = threading.Event()
        self._thread_id = threading.get_ident()

    def _tick(self) -> None:
        self.beat = time.perf_counter()
        if not self._stop.is_set():
            self.loop.call_later(0.005, self._tick)

    def _watch(self) -> None:
        reported = 0.0
        while not self._stop.wait(0.01):
            if time.perf_counter() - self.beat > self.threshold and reported != self.beat:
                reported = self.beat
                frame = sys._current_frames().get(self._thread_id)
                where = traceback.format_stack(frame)[-6:] if frame else []
                self.stalls.append("".join(where))

    def __enter__(self) -> StallWatch:
        self._tick()
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    # Read in a thread: the uploading browser is not in the server's process, its disk reads
    # must not stall the loop being measured.
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, 1024 * 1024):
            yield chunk


async def test_a_50_mb_import_stalls_no_stream_and_no_health_check(
    make_harness: Callable[..., Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    export = tmp_path / "chatgpt-web-big.json"
    conversations, messages = await asyncio.to_thread(
        write_chatgpt_web_export, export, TARGET_BYTES
    )
    size = export.stat().st_size
    assert size >= TARGET_BYTES

    harness: Harness = await make_harness(
        providers=providers_for(upstream), default_model="fake-model", upstream_retries=0
    )
    alice = await harness.remote_user(await harness.user("alice"))
    bob = await harness.remote_user(await harness.user("bob"))
    bob.timeout = httpx.Timeout(300)
    watcher = await harness.remote_user(await harness.client())
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    # A server that has served an import before: the first request a route gets after start
    # builds FastAPI's per-router validation state on the loop (~50-130 ms here), once.
    tiny = (Path(__file__).parents[1] / "data" / "chatgpt-web-export.json").read_bytes()
    assert (await bob.post("/api/import", content=tiny)).status_code == 201

    window: dict[str, float] = {}
    event_times: list[float] = []
    health: list[tuple[float, float]] = []  # (sent at, seconds to answer)
    streaming = asyncio.Event()
    finished = asyncio.Event()
    generation: dict[str, str] = {}

    async def stream() -> None:
        async with alice.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "talk"}
        ) as response:
            assert response.status_code == 200
            async for event in iter_events(response):
                now = time.perf_counter()
                if event.event == "start":
                    generation["id"] = data(event)["message_id"]
                if event.event == "delta":
                    event_times.append(now)
                    streaming.set()
                if finished.is_set() or event.event == "done":
                    return

    async def poll() -> None:
        # Timed from when the check was due, so a stall while the poller sleeps counts too.
        due = time.perf_counter()
        while not finished.is_set():
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            response = await watcher.get("/healthz")
            answered = time.perf_counter()
            health.append((due, answered - due))
            assert response.status_code == 200
            due = answered + 0.02

    async def upload() -> httpx.Response:
        await streaming.wait()
        await asyncio.sleep(0.5)  # a baseline of gaps before the import starts
        window["start"] = time.perf_counter()
        try:
            return await bob.post(
                "/api/import",
                content=_chunks(export),
                headers={"content-type": "application/json", "content-length": str(size)},
            )
        finally:
            window["end"] = time.perf_counter()
            await asyncio.sleep(0.3)
            finished.set()

    with StallWatch(asyncio.get_running_loop()) as watch:
        reader = asyncio.create_task(stream())
        poller = asyncio.create_task(poll())
        response = await upload()
        await asyncio.wait_for(asyncio.gather(reader, poller), 30)
    await alice.post(f"/api/generations/{generation['id']}/stop")

    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["conversations"], report["messages"]) == (conversations, messages)
    listed = (await bob.get("/api/conversations", params={"limit": 1})).json()["items"]
    assert listed[0]["title"] == "Chat 0", "chatgpt-web's newest conversation comes first"

    start, end = window["start"], window["end"]
    during = [t for t in event_times if start <= t <= end]
    gaps = [b - a for a, b in itertools.pairwise(event_times) if b >= start and a <= end]
    checks = [seconds for sent, seconds in health if start <= sent <= end]
    summary = (
        f"import of {size / 1e6:.1f} MB ({messages} messages) took {end - start:.2f} s; "
        f"{len(during)} events, largest gap {max(gaps) * 1000:.1f} ms "
        f"(token every {TOKEN_DELAY * 1000:.0f} ms); {len(checks)} /healthz, slowest "
        f"{max(checks) * 1000:.1f} ms"
    )
    print(summary)
    summary += "\nThe loop's thread when it stalled (any process on this machine may cause it):\n"
    summary += "\n---\n".join(watch.stalls[:5])
    assert len(during) > (end - start) / TOKEN_DELAY / 3, summary
    assert max(gaps) <= LIMIT_SECONDS, summary
    assert max(checks) <= LIMIT_SECONDS, summary
