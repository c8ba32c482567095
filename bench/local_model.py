"""Time to first token and tokens/s of the bundled local model, through ChatGate's HTTP API.

    .venv/bin/python -m bench.local_model [--runs 5] [--threads 1] [--max-tokens 256]

Builds the app in-process with a fresh SQLite database in a temporary directory and no upstream
configured (so the bundled SmolLM2-135M answers), serves it on a loopback port with uvicorn, signs
in and streams answers over SSE exactly as a browser does. Each answer is timed from the POST to
its first `delta` (time to first token) and from the first to the last `delta` (generation speed,
in completion tokens as llama.cpp counted them). Starts no other process. Prints Markdown.

Scenarios: the first answer after startup (it imports llama.cpp and loads the model), short
questions, and questions carrying a ~1,000-token system prompt (prompt processing dominates the
time to first token), then a follow-up question in each of those conversations, whose history
llama.cpp still holds from the previous answer. Apart from those follow-ups every prompt differs
from the one before, so llama.cpp's cache of the last prompt does not flatter the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

from chatgate import logging as chatgate_logging
from chatgate.app import create_app
from chatgate.config import Settings
from chatgate.db.migrate import upgrade
from chatgate.providers.local_llama import LocalLlama

PASSWORD = "bench password for the local model"
SHORT = "Write a short story about a lighthouse keeper and a storm. (Take {run}.)"
FOLLOW_UP = "Now tell the same story in one sentence."
FILLER = (
    "ChatGate is a self-hosted shared chat service. It keeps every conversation on the server, "
    "shares one upstream account fairly between people, and streams answers that survive reloads. "
)


@dataclass
class Timing:
    ttft: float
    generation: float
    prompt_tokens: int
    completion_tokens: int
    generation_cpu: float  # CPU seconds this process used between the first and the last delta

    @property
    def tokens_per_second(self) -> float:
        # Tokens after the first, over the time between the first and the last delta.
        return (self.completion_tokens - 1) / self.generation if self.generation > 0 else 0.0

    @property
    def tokens_per_cpu_second(self) -> float:
        # The same, per CPU second: what the speed would be with a core to itself.
        cpu = self.generation_cpu
        return (self.completion_tokens - 1) / cpu if cpu > 0 else 0.0


async def _events(response: httpx.Response) -> Any:
    event = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, orjson.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


async def _ask(
    client: httpx.AsyncClient, content: str, settings: dict[str, Any], cid: str | None = None
) -> tuple[Timing, str]:
    """One answer, in a new conversation unless `cid` is given; its timing and conversation."""
    if cid is None:
        created = await client.post("/api/conversations", json={"settings": settings})
        cid = str(created.json()["id"])
    started = time.perf_counter()
    first = last = None
    first_cpu = last_cpu = 0.0
    usage: dict[str, Any] = {}
    status = None
    async with client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": content}
    ) as response:
        response.raise_for_status()
        async for event, data in _events(response):
            if event == "delta":
                last, last_cpu = time.perf_counter(), time.process_time()
                if first is None:
                    first, first_cpu = last, last_cpu
            elif event == "usage":
                usage = data
            elif event == "done":
                status = data["status"]
            elif event == "error":
                raise RuntimeError(f"the answer failed: {data}")
    if status != "complete" or first is None or last is None:
        raise RuntimeError(f"the answer ended {status!r} without text")
    timing = Timing(
        first - started,
        last - first,
        usage["prompt_tokens"],
        usage["completion_tokens"],
        last_cpu - first_cpu,
    )
    return timing, cid


def _row(name: str, timings: list[Timing], *, prompt_rate: bool = True) -> str:
    def cell(values: list[float], digits: int) -> str:
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return (
            f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}–{max(values):.{digits}f})"
        )

    return (
        f"| {name} | {len(timings)} "
        f"| {cell([t.prompt_tokens for t in timings], 0)} "
        f"| {cell([t.ttft * 1000 for t in timings], 0)} "
        f"| {cell([t.completion_tokens for t in timings], 0)} "
        f"| {cell([t.tokens_per_second for t in timings], 1)} "
        f"| {cell([t.tokens_per_cpu_second for t in timings], 1)} "
        f"| {cell([t.prompt_tokens / t.ttft for t in timings], 0) if prompt_rate else '–'} |"
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def run(runs: int, threads: int, max_tokens: int) -> None:
    chatgate_logging.configure("warning", "console")
    with tempfile.TemporaryDirectory(prefix="chatgate-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'chatgate.db'}"
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            data_dir=Path(tmp),
            database_url=url,
            host="127.0.0.1",
            log_level="warning",
            local_threads=threads,
        )
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            services = app.state.services
            provider = services.registry.route(None).provider
            if not isinstance(provider, LocalLlama):
                raise SystemExit(
                    "The bundled local model is not installed: run `make install` first."
                )
            await services.users.create_user("bench", PASSWORD, role="admin")
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=300
            ) as client:
                login = await client.post(
                    "/api/auth/login", json={"username": "bench", "password": PASSWORD}
                )
                login.raise_for_status()
                load_before = os.getloadavg()
                limits = {"max_tokens": max_tokens}
                cold = [(await _ask(client, "Hello! Who are you?", limits))[0]]
                short = [(await _ask(client, SHORT.format(run=i), limits))[0] for i in range(runs)]
                long_prompt, follow_up = [], []
                for i in range(runs):
                    system = f"Session {i}. " + FILLER * 28
                    timing, cid = await _ask(
                        client, SHORT.format(run=i), {**limits, "system_prompt": system}
                    )
                    long_prompt.append(timing)
                    timing, _ = await _ask(client, FOLLOW_UP, limits, cid)
                    follow_up.append(timing)
                load_after = os.getloadavg()
        finally:
            server.should_exit = True
            await serving

    version = importlib.metadata.version("llama-cpp-python")
    print(
        f"{provider.label} ({provider.model_path.name}), llama-cpp-python {version}, "
        f"local_threads={threads}, context {provider.context}, max_tokens={max_tokens}"
    )
    print(
        f"{_cpu()}, {os.cpu_count()} cores; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print()
    print(
        "| answer | runs | prompt tokens | time to first token ms | completion tokens "
        "| tokens/s | tokens per CPU-second | prompt tokens/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(_row("first after startup (imports llama.cpp, loads the model)", cold, prompt_rate=False))
    print(_row("short question", short))
    print(_row("with a ~1,000-token system prompt", long_prompt))
    print(_row("follow-up in that conversation (history already in llama.cpp's cache)", follow_up))
    print()
    print("Cells: median (min–max). tokens/s counts the tokens after the first, over the time")
    print("from the first delta to the last, as received by an SSE client over loopback; per")
    print("CPU-second divides by the CPU time this process (server and client) used meanwhile.")
    print("prompt tokens/s: prompt tokens over the time to first token.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="answers per scenario")
    parser.add_argument("--threads", type=int, default=1, help="CHATGATE_LOCAL_THREADS")
    parser.add_argument("--max-tokens", type=int, default=256, help="answer length limit")
    args = parser.parse_args()
    asyncio.run(run(args.runs, args.threads, args.max_tokens))


if __name__ == "__main__":
    main()
