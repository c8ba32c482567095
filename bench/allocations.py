"""Where an active stream's memory is: tracemalloc in `chatgate serve`, before and during N streams.

    python -m bench.allocations [--streams 300] [--path v1|browser] [--frames 1] [--src DIR]

Starts the fake upstream and ChatGate (as `python -m bench` does, unpinned) with
`bench/allocation_probe`, makes users and API keys, runs 20 streams to warm up and stops them,
starts tracing, takes a snapshot, opens N long streams, takes another once every stream has had
its first bytes, and prints what each allocation site (with `--frames` above 1: each traceback)
added, per stream. Python's allocations only: the kernel's socket buffers and the free space
inside the allocators are not in it. Tracing slows ChatGate down, so tokens wait in buffers for
longer than they would: sites that hold tokens read higher than they are. `--src` runs
ChatGate's code from another checkout (`git worktree add /tmp/old REV`, then `--src
/tmp/old/src`), for a before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import signal
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench.chatgate_api import ChatGateApi, UserSession, new_http
from bench.chatgate_proc import MODEL, ChatGateInstance, free_port
from bench.config import RunConfig
from bench.protocol import Shape, new_marker, prompt
from bench.run import make_users, start_fake

PROBE = Path(__file__).parent / "allocation_probe"
LONG = Shape(tokens=3000, rate=20, ttft=0)  # longer than the measurement: every stream stays open
WARM_STREAMS = 20


@dataclass(frozen=True, slots=True)
class Site:
    bytes_per_stream: float
    blocks_per_stream: float
    where: tuple[str, ...]  # innermost frame first


def per_stream(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, streams: int, frames: int = 1
) -> list[Site]:
    """What each site (or traceback) added between the snapshots, per stream, largest first."""
    key = "lineno" if frames == 1 else "traceback"
    sites = []
    for stat in after.compare_to(before, key):
        where = tuple(f"{frame.filename}:{frame.lineno}" for frame in reversed(stat.traceback))
        sites.append(Site(stat.size_diff / streams, stat.count_diff / streams, where))
    return sites


async def _stream(
    http: aiohttp.ClientSession,
    api: ChatGateApi,
    user: UserSession,
    key: str | None,
    path: str,
    opened: list[int],
) -> None:
    content = prompt(new_marker(), LONG)
    if path == "v1":
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": content}]}
        url = f"{api.base}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    else:
        conversation = await api.create_conversation(user)
        body = {"content": content}
        url = f"{api.base}/api/conversations/{conversation}/messages"
        headers = {**user.headers, "Content-Type": "application/json"}
    async with http.post(url, data=orjson.dumps(body), headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {await response.text()}")
        first = True
        async for _ in response.content.iter_any():
            if first:
                opened[0] += 1
                first = False


def _snapshot(pid: int, directory: Path, number: int) -> tracemalloc.Snapshot:
    os.kill(pid, signal.SIGUSR1)
    target = directory / f"snapshot-{number}.pickle"
    deadline = time.monotonic() + 120
    while not target.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {target.name} from the probe within 120 s")
        time.sleep(0.1)
    snapshot: tracemalloc.Snapshot = pickle.loads(target.read_bytes())
    return snapshot


async def measure(args: argparse.Namespace, work: Path) -> list[Site]:
    # Unpinned: the census counts bytes, not time.
    fake, fake_port = start_fake(RunConfig(shape=LONG, harness_core=None), work)
    try:
        instance = ChatGateInstance(work / "chatgate", fake_port)
        paths = [str(PROBE)] + ([str(args.src)] if args.src else [])
        instance.env |= {
            "PYTHONPATH": os.pathsep.join(paths),
            "BENCH_ALLOCATIONS_DIR": str(work),
            "BENCH_ALLOCATIONS_FRAMES": str(args.frames),
        }
        instance.add_admin("bench-admin")
        port = free_port()
        child, _ = instance.serve(port, None, work / "serve.log")
        try:
            return await _drive(args, instance, f"http://127.0.0.1:{port}", child.proc.pid, work)
        finally:
            child.stop()
    finally:
        fake.stop()


async def _drive(
    args: argparse.Namespace, instance: ChatGateInstance, base_url: str, pid: int, work: Path
) -> list[Site]:
    async with new_http(limit=args.streams + WARM_STREAMS + 16) as http:
        api = ChatGateApi(base_url, http)
        users = (await make_users(api, instance, 20))[:-1]
        keys = [await api.create_api_key(user) for user in users] if args.path == "v1" else []

        def one(n: int, opened: list[int]) -> asyncio.Task[None]:
            key = keys[n % len(keys)] if keys else None
            coroutine = _stream(http, api, users[n % len(users)], key, args.path, opened)
            return asyncio.ensure_future(coroutine)

        warm = [one(n, [0]) for n in range(WARM_STREAMS)]
        await asyncio.sleep(3)
        for task in warm:
            task.cancel()
        await asyncio.sleep(8)  # the warm-up's generations finish and are let go
        os.kill(pid, signal.SIGUSR2)
        await asyncio.sleep(1)
        before = await asyncio.to_thread(_snapshot, pid, work, 1)
        opened = [0]
        streams = [one(n, opened) for n in range(args.streams)]
        while opened[0] < args.streams:
            failed = [task for task in streams if task.done()]
            if failed:
                failed[0].result()  # raises what ended it
                raise RuntimeError("a stream ended before the snapshot")
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)
        after = await asyncio.to_thread(_snapshot, pid, work, 2)
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return per_stream(before, after, args.streams, args.frames)


def report(sites: list[Site], top: int, streams: int, path: str) -> str:
    total = sum(site.bytes_per_stream for site in sites)
    lines = [f"{path}: {streams} streams, {total:,.0f} bytes per stream traced", ""]
    for site in sites[:top]:
        where = " < ".join(_short(frame) for frame in site.where[:6])
        lines.append(
            f"{site.bytes_per_stream:8.0f} B {site.blocks_per_stream:6.2f} blocks  {where}"
        )
    return "\n".join(lines)


def _short(frame: str) -> str:
    for marker in ("site-packages/", "python3.11/", "/src/"):
        if marker in frame:
            return frame.split(marker, 1)[1]
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--path", choices=("v1", "browser"), default="v1")
    parser.add_argument("--frames", type=int, default=1, help="frames per traceback (1: by line)")
    parser.add_argument("--src", type=Path, help="run ChatGate's code from this src directory")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chatgate-allocations-") as tmp:
        sites = asyncio.run(measure(args, Path(tmp)))
    print(report(sites, args.top, args.streams, args.path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
