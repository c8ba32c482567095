"""The load driver: K concurrent streams (closed loop) or Poisson arrivals (open loop) against one
target, every response followed by `StreamConnection`.

Closed loop: slot i starts at `i / K` of the ramp, then asks again as soon as its answer ends,
so K streams stay open with their token phases spread out. No new question starts after
`stop_at`; `run` returns once every answer has ended.
"""

from __future__ import annotations

import asyncio
import random
import time

from bench.protocol import new_marker
from bench.stream_client import StreamConnection, StreamResult, build_request
from bench.targets import Target


class Driver:
    def __init__(self, target: Target, *, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.results: list[StreamResult] = []

    async def _one(self, slot: int, conn: StreamConnection | None) -> StreamConnection | None:
        target = self.target
        marker = new_marker()
        result = StreamResult(marker)
        self.results.append(result)
        try:
            prepared = target.prepare(slot, marker)
        except RuntimeError as exc:
            result.error = str(exc)
            return conn
        result.conversation = prepared.conversation
        host, port = prepared.host or target.host, prepared.port or target.port
        raw = build_request(host, port, prepared.path, prepared.body, prepared.headers)
        try:
            if conn is None or not conn.is_open:
                conn = await StreamConnection.open(host, port)
            await conn.request(raw, result, self.timeout)
        except OSError as exc:
            result.sent_ns = result.sent_ns or time.monotonic_ns()
            result.error = f"{type(exc).__name__}: {exc}"
            return None
        return conn if conn.is_open else None

    async def _slot(self, slot: int, start_at: float, stop_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        conn: StreamConnection | None = None
        while time.monotonic() < stop_at:
            conn = await self._one(slot, conn)
        if conn is not None:
            conn.close()

    async def closed_loop(self, k: int, ramp: float, stop_at: float) -> None:
        begin = time.monotonic()
        await asyncio.gather(
            *(self._slot(i, begin + ramp * i / k, stop_at) for i in range(k)),
        )

    async def open_loop(self, rate: float, stop_at: float, seed: int = 1) -> None:
        """Poisson arrivals at `rate` per second, each on its own connection."""
        rng = random.Random(seed)
        pending: set[asyncio.Task[StreamConnection | None]] = set()
        at = time.monotonic()
        slot = 0
        while True:
            at += rng.expovariate(rate)
            if at >= stop_at:
                break
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            task = asyncio.create_task(self._one(slot, None))
            slot += 1
            pending.add(task)
            task.add_done_callback(pending.discard)
        for conn in await asyncio.gather(*pending):
            if conn is not None:
                conn.close()
