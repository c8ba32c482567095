"""Ordinary API calls while streams run: list conversations, and load a seeded 1,000-message
conversation. Open loop (each call starts on schedule, whatever the previous one is doing), so
a slow server cannot hide its slowness by slowing the probe down."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.chatgate_api import ChatGateApi
from bench.metrics import pct
from bench.seed import Seeded


@dataclass
class Probe:
    name: str
    path: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict[str, float | int | None]:
        return {
            "n": len(self.latencies_ms),
            "p50": pct(self.latencies_ms, 50),
            "p99": pct(self.latencies_ms, 99),
            "max": max(self.latencies_ms) if self.latencies_ms else None,
            "errors": self.errors,
        }


async def run_probes(
    api: ChatGateApi, seeded: Seeded, rate: float, until: float
) -> dict[str, Probe]:
    """Each probe at `rate` calls per second until the monotonic time `until`."""
    probes = {
        "list": Probe("list conversations", "/api/conversations?limit=50"),
        "load": Probe(
            "load 1,000 messages", f"/api/conversations/{seeded.long_conversation}/messages"
        ),
    }
    tasks: set[asyncio.Task[None]] = set()

    async def call(probe: Probe) -> None:
        try:
            seconds, status = await api.timed("GET", probe.path, seeded.user)
        except (OSError, TimeoutError):
            probe.errors += 1
            return
        if status != 200:
            probe.errors += 1
        else:
            probe.latencies_ms.append(seconds * 1000)

    start = time.monotonic()
    i = 0
    while True:
        at = start + i / rate
        if at >= until:
            break
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        for probe in probes.values():
            task = asyncio.create_task(call(probe))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.gather(*tasks)
    return probes
