"""One load step against one target: ramp, settle, measured window (CPU, memory, latency),
optionally a window of ordinary API calls, then drain and match every token with the fake."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

from bench import procs
from bench.bystander import run_probes
from bench.chatgate_api import ChatGateApi
from bench.config import RunConfig
from bench.driver import Driver
from bench.metrics import Latency, Timings, analyse, find_pauses, stream_lateness
from bench.protocol import answer
from bench.seed import Seeded
from bench.stream_client import StreamResult
from bench.targets import ChatGateTarget, Target
from bench.window import ResourceWindow

STORED_SAMPLE = 30


@dataclass
class StepResult:
    target: str
    step: float  # streams (or arrivals per second with --open-loop)
    k: int  # streams open at once
    window_s: float
    latency: Latency
    cpu_s: float | None = None  # CPU seconds of the target's process tree in the window
    cpu_ms_per_1k: float | None = None  # CPU milliseconds per 1,000 delivered tokens
    cpu_util: float | None = None  # share of one core
    fake_util: float | None = None
    fake_cpu_s: float | None = None  # the fake's CPU seconds in the window
    # The fake's own CPU per token delivered in the window: what sending alone costs, the
    # floor issue 17 measures the gateway's CPU per token against (≤ 1.5× of it).
    fake_us_per_token: float | None = None
    driver_util: float | None = None
    background_util: float | None = None  # cores used by other processes on the machine
    pss_mb: float | None = None
    rss_mb: float | None = None
    tcp_mem_pages: int | None = None
    api: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    # Whole-loop pauses in the window (bench.metrics.find_pauses), as a dict.
    pauses: dict[str, Any] | None = None
    api_window_token_p99_ms: float | None = None
    stored_checked: int = 0
    stored_ok: int = 0
    created_late: int = 0
    sample: str = ""
    passed: bool = True
    failures: list[str] = field(default_factory=list)
    round: int = 1  # with --repeat: which round of this step
    loadavg_1m: float | None = None  # the machine's 1-minute load average as the step began

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """What a step needs from the run."""

    config: RunConfig
    http: aiohttp.ClientSession
    fake_url: str
    fake_pid: int
    api: ChatGateApi | None = None
    seeded: Seeded | None = None


async def fake_timings(ctx: Context, clear: bool = True) -> Timings:
    async with ctx.http.get(f"{ctx.fake_url}/_timings?clear={int(clear)}") as resp:
        data: Timings = orjson.loads(await resp.read())
        return data


async def wait_fake_idle(ctx: Context, limit: float = 90.0) -> int:
    """Until the fake has no stream open (a gateway may finish answers nobody listens to)."""
    deadline = time.monotonic() + limit
    active = 0
    while time.monotonic() < deadline:
        async with ctx.http.get(f"{ctx.fake_url}/_stats") as resp:
            active = int(orjson.loads(await resp.read())["active"])
        if active == 0:
            return 0
        await asyncio.sleep(0.2)
    return active


async def _check_stored(
    api: ChatGateApi, target: ChatGateTarget, results: list[StreamResult], tokens: int
) -> tuple[int, int]:
    """Read back a sample of answers through the API: complete, and exactly the streamed text."""
    candidates = [r for r in results if r.conversation in target.owner_of]
    sample = random.Random(7).sample(candidates, min(STORED_SAMPLE, len(candidates)))
    expected = answer(tokens)
    ok = 0
    for result in sample:
        conversation = str(result.conversation)
        messages = await api.messages(target.owner_of[conversation], conversation)
        answers = [m for m in messages if m["role"] == "assistant"]
        if answers and answers[-1]["status"] == "complete" and answers[-1]["content"] == expected:
            ok += 1
    return len(sample), ok


async def run_step(ctx: Context, target: Target, step: float, *, gateway: bool) -> StepResult:
    config = ctx.config
    k = config.concurrency(int(step))
    window = config.window if gateway else config.floor_window
    # API calls go to the instance under test, on its own seeded data.
    api = target.api if isinstance(target, ChatGateTarget) else None
    seeded = (getattr(target, "seeded", None) or ctx.seeded) if api is not None else None
    bystander = config.bystander_window if seeded is not None else 0.0
    await target.before_step(k * config.requests_per_slot(window, bystander))
    await fake_timings(ctx, clear=True)
    gc.collect()

    start = time.monotonic()
    ramp = config.ramp if not config.open_loop else 0.0
    w0 = start + ramp + config.settle
    w1 = w0 + window
    stop_at = w1 + bystander
    driver = Driver(target, timeout=max(60.0, 4 * config.shape.duration))
    if config.open_loop:
        load = driver.open_loop(step, stop_at)
    else:
        load = driver.closed_loop(k, ramp, stop_at)
    load_task = asyncio.create_task(load)

    result = StepResult(target=target.name, step=step, k=k, window_s=window, latency=Latency())
    result.loadavg_1m = os.getloadavg()[0]
    pids = getattr(target, "pids", None) or ([target.pid] if target.pid else [])
    resources = ResourceWindow(pids, ctx.fake_pid)
    await asyncio.sleep(max(0.0, w0 - time.monotonic()))
    w0_ns = time.monotonic_ns()
    resources.open()
    await asyncio.sleep(max(0.0, w0 + window / 2 - time.monotonic()))
    result.pss_mb, result.rss_mb = resources.memory()
    result.tcp_mem_pages = procs.tcp_mem_pages()
    await asyncio.sleep(max(0.0, w1 - time.monotonic()))
    w1_ns = time.monotonic_ns()
    usage = resources.close()
    result.cpu_s, result.cpu_util = usage.gateway_cpu_s, usage.gateway_util
    result.fake_util, result.driver_util = usage.fake_util, usage.driver_util
    result.fake_cpu_s = usage.fake_util * usage.seconds
    result.background_util = usage.background_util

    probes = None
    if bystander and api is not None and seeded is not None:
        probes = await run_probes(api, seeded, config.bystander_rate, stop_at)
    await load_task
    await wait_fake_idle(ctx)
    timings = await fake_timings(ctx, clear=True)

    results = driver.results
    result.latency = analyse(results, timings, config.shape.tokens, (w0_ns, w1_ns))
    if probes is not None:
        result.api = {name: probe.summary() for name, probe in probes.items()}
        after = analyse(
            results, timings, config.shape.tokens, (w1_ns, w1_ns + int(bystander * 1e9))
        )
        result.api_window_token_p99_ms = after.token_ms.get("p99")
    result.pauses = asdict(find_pauses(stream_lateness(results, timings), (w0_ns, w1_ns)))
    tokens = result.latency.tokens_in_window
    if result.cpu_s is not None and tokens:
        result.cpu_ms_per_1k = result.cpu_s * 1000 / (tokens / 1000)
    if result.fake_cpu_s is not None and tokens:
        result.fake_us_per_token = result.fake_cpu_s * 1e6 / tokens
    if isinstance(target, ChatGateTarget):
        result.stored_checked, result.stored_ok = await _check_stored(
            target.api, target, results, config.shape.tokens
        )
    result.created_late = getattr(target, "created_late", 0)
    sample = next((r.sample for r in results if r.error is None and r.sample), b"")
    result.sample = sample.decode("utf-8", "replace")
    _judge(result, config)
    return result


def _judge(result: StepResult, config: RunConfig) -> None:
    lat = result.latency
    if lat.errors:
        result.failures.append(f"{lat.errors} of {lat.requests} answers failed")
    p99 = lat.token_ms.get("p99")
    if p99 is not None and p99 > config.fail_token_p99_ms:
        result.failures.append(f"per-token p99 {p99:.0f} ms > {config.fail_token_p99_ms:.0f} ms")
    ttft = lat.ttft_ms.get("p99")
    if ttft is not None and ttft > config.fail_ttft_p99_ms:
        result.failures.append(f"added TTFT p99 {ttft:.0f} ms > {config.fail_ttft_p99_ms:.0f} ms")
    if result.stored_checked and result.stored_ok != result.stored_checked:
        result.failures.append(
            f"{result.stored_checked - result.stored_ok} of {result.stored_checked} sampled answers not stored"
        )
    if lat.tokens_in_window == 0:
        result.failures.append("no tokens in the window")
    result.passed = not result.failures
