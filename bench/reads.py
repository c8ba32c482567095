"""The two reads people hit most, timed in-process: the sidebar list and a 1,000-message
conversation, on a fresh SQLite database (no streams running; compare runs on one machine).

    .venv/bin/python -m bench.reads [--requests 200] [--conversations 500]

Each request goes through the whole app (httpx ASGITransport, middleware, auth, the database
threads); CPU is the process's (event loop, reader threads and the client alike) per request,
and "of which event loop" the loop thread's alone (the client runs on it too): what other
requests, streams among them, wait behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import structlog
from asgi_lifespan import LifespanManager

from bench.seed import insert_chain
from chatgate.app import create_app
from chatgate.config import Settings
from chatgate.db.migrate import upgrade

PASSWORD = "correct horse battery staple"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _time(
    client: httpx.AsyncClient, path: str, requests: int
) -> tuple[float, float, float, float]:
    for _ in range(10):  # warm-up: imports, statement caches
        (await client.get(path)).raise_for_status()
    latencies: list[float] = []
    cpu, loop_cpu = time.process_time(), time.thread_time()
    for _ in range(requests):
        start = time.perf_counter()
        response = await client.get(path)
        latencies.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    cpu_ms = (time.process_time() - cpu) * 1000 / requests
    loop_ms = (time.thread_time() - loop_cpu) * 1000 / requests
    return statistics.median(latencies), _percentile(latencies, 0.99), cpu_ms, loop_ms


async def main(requests: int, conversations: int) -> None:
    # The per-request access log is the same before and after; keep it out of the timings.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        database = data / "chatgate.db"
        url = f"sqlite:///{database}"
        upgrade(url)
        settings = Settings(data_dir=data, database_url=url, host="127.0.0.1", log_level="warning")
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=60):
            services = app.state.services
            await services.users.create_user("reader", PASSWORD)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                login = {"username": "reader", "password": PASSWORD}
                (await client.post("/api/auth/login", json=login)).raise_for_status()
                for i in range(conversations):
                    body = {"title": f"Chat {i}", "settings": {"temperature": 0.7}}
                    (await client.post("/api/conversations", json=body)).raise_for_status()
                long_id = (await client.post("/api/conversations", json={})).json()["id"]
                await asyncio.to_thread(insert_chain, database, long_id)
                paths = {
                    # The floor: the same client, middleware and session check, no reading.
                    "signed-in floor (/api/auth/me)": "/api/auth/me",
                    "list 50 conversations": "/api/conversations?limit=50",
                    "one conversation": f"/api/conversations/{long_id}",
                    "1,000 messages": f"/api/conversations/{long_id}/messages",
                }
                print(f"{requests} sequential requests each, after 10 of warm-up")
                print("| read | p50 ms | p99 ms | CPU ms per request | of which event loop |")
                print("|---|---:|---:|---:|---:|")
                for name, path in paths.items():
                    p50, p99, cpu, loop = await _time(client, path, requests)
                    print(f"| {name} | {p50:.2f} | {p99:.2f} | {cpu:.2f} | {loop:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=500)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.conversations))
