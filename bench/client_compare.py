"""CPU per streamed token: ChatGate's upstream client (`chatgate.providers.wire`) against
aiohttp's client (C parser, pooled connections), reading the same answers from the same fake.

    .venv/bin/python -m bench.client_compare [--answers 400] [--concurrency 50] [--rounds 3]
                                             [--baseline REV]

The fake upstream (`bench.fake_upstream`, its own process, pinned to the other core) streams
OpenAI-style answers of `--tokens` tokens at `--rate` tokens/s each, one write per token. This
process (uvloop, pinned to core 0) reads `--answers` answers, `--concurrency` at a time, through
one client and then the other, in alternating rounds; each read does the same work after the
client: SSE events parsed by `SSEParser`, each chunk decoded with orjson, the text counted.
A round's figure is this process's CPU time (`time.process_time()`) per token received;
the table gives each client's best and median round. `--baseline REV` adds `wire.py` as it was at
that git revision, measured in the same run (a before/after of a change to the client). A second
table gives each wire.py's own share alone: token packets fed straight to its protocol, without
sockets, kernel or SSE parsing, so a small change shows through the noise of a shared machine.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

import orjson

from bench import procs
from bench.protocol import Shape, prompt
from chatgate.providers.sse import SSEParser
from chatgate.providers.wire import UpstreamClient

Reader = Callable[[str, bytes], Awaitable[int]]


class _Counter:
    """The consumer both clients feed: SSE events, one orjson parse per chunk, tokens counted."""

    __slots__ = ("parser", "tokens")

    def __init__(self) -> None:
        self.parser = SSEParser()
        self.tokens = 0

    def feed(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            if event.data == "[DONE]":
                continue
            chunk = orjson.loads(event.data)
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    self.tokens += 1


def _body(shape: Shape) -> bytes:
    return orjson.dumps(
        {
            "model": "bench",
            "stream": True,
            "messages": [{"role": "user", "content": prompt("0" * 20, shape)}],
        }
    )


async def _run(read: Reader, url: str, body: bytes, answers: int, concurrency: int) -> int:
    tokens = 0
    pending = iter(range(answers))

    async def worker() -> None:
        nonlocal tokens
        for _ in pending:
            got = await read(url, body)  # (`tokens += await …` would lose concurrent updates)
            tokens += got

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tokens


def _wire_reader(client: UpstreamClient) -> Reader:
    async def read(url: str, body: bytes) -> int:
        counter = _Counter()
        async with client.stream("POST", url, json=orjson.Fragment(body)) as response:
            assert response.status_code == 200, response.status_code
            await response.pump(counter.feed)
        return counter.tokens

    return read


def _wire_at(rev: str) -> types.ModuleType:
    """`src/chatgate/providers/wire.py` as it was at git revision `rev`, as a module."""
    source = subprocess.run(
        ["git", "show", f"{rev}:src/chatgate/providers/wire.py"],
        capture_output=True,
        check=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    module = types.ModuleType(f"wire_at_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:src/chatgate/providers/wire.py", "exec"), module.__dict__)
    return module


class _NoTransport:
    def abort(self) -> None:
        pass


async def _protocol_cost(module: types.ModuleType, packets: int = 50_000) -> float:
    """The client's own µs per token, without sockets: one chunked SSE token per packet fed to
    the protocol's data_received, pushed to a sink that does nothing. Best of five."""
    connection = module._Connection()
    connection.connection_made(_NoTransport())
    connection.begin_response()
    connection.data_received(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    event = b'data: {"choices":[{"index":0,"delta":{"content":"w00001 "}}]}\n\n'
    packet = b"%x\r\n%s\r\n" % (len(event), event)
    connection.sink = lambda data: None
    feed = connection.data_received
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(packets):
            feed(packet)
        best = min(best, (time.process_time() - started) / packets * 1e6)
    return best


def _aiohttp_reader(session: object) -> Reader:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    headers = {"content-type": "application/json", "accept": "text/event-stream"}

    async def read(url: str, body: bytes) -> int:
        counter = _Counter()
        async with session.post(url, data=body, headers=headers) as response:
            assert response.status == 200, response.status
            async for data in response.content.iter_any():
                counter.feed(data)
        return counter.tokens

    return read


Results = tuple[dict[str, list[float]], dict[str, float]]


async def _measure(args: argparse.Namespace, url: str) -> Results:
    import aiohttp
    from aiohttp.http_parser import HttpResponseParser, HttpResponseParserPy

    assert HttpResponseParser is not HttpResponseParserPy, "aiohttp without its C parser"
    shape = Shape(args.tokens, args.rate, 0.0)
    body = _body(shape)
    clients: list[UpstreamClient] = [UpstreamClient(proxy=None, connect_timeout=10)]
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
    readers = {"wire.py": _wire_reader(clients[0])}
    modules = {"wire.py": sys.modules[UpstreamClient.__module__]}
    if args.baseline:
        name = f"wire.py at {args.baseline}"
        modules[name] = _wire_at(args.baseline)
        clients.append(modules[name].UpstreamClient(proxy=None, connect_timeout=10))
        readers[name] = _wire_reader(clients[1])
    readers["aiohttp"] = _aiohttp_reader(session)
    results: dict[str, list[float]] = {name: [] for name in readers}
    try:
        for read in readers.values():  # warm-up: connections opened, code paths hot
            await _run(read, url, body, args.concurrency, args.concurrency)
        for round_no in range(args.rounds):
            order = list(readers.items())
            shift = round_no % len(order)  # each client takes its turn at every position
            order = order[shift:] + order[:shift]
            for name, read in order:
                started_cpu, started = time.process_time(), time.monotonic()
                tokens = await _run(read, url, body, args.answers, args.concurrency)
                cpu, wall = time.process_time() - started_cpu, time.monotonic() - started
                expected = args.answers * args.tokens
                assert tokens == expected, f"{name}: {tokens} tokens, expected {expected}"
                results[name].append(cpu / tokens * 1e6)
                print(
                    f"round {round_no + 1} {name}: {cpu / tokens * 1e6:.2f} µs/token "
                    f"({tokens} tokens, {wall:.1f} s)",
                    file=sys.stderr,
                )
    finally:
        for client in clients:
            await client.aclose()
        await session.close()
    return results, {name: await _protocol_cost(module) for name, module in modules.items()}


def _report(args: argparse.Namespace, measured: Results) -> str:
    results, protocol = measured
    wire_best = min(results["wire.py"])
    lines = [
        f"{args.answers} answers of {args.tokens} tokens at {args.rate:g} tokens/s each, "
        f"{args.concurrency} at a time, {args.rounds} rounds per client (alternating); Python "
        f"{platform.python_version()}, uvloop {version('uvloop')}, aiohttp {version('aiohttp')}, "
        f"httptools {version('httptools')}; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} at the end.",
        "",
        "| client | CPU µs per token, best round | median round | rounds | best vs wire.py |",
        "|---|---|---|---|---|",
    ]
    for name, rounds in results.items():
        shown = ", ".join(f"{r:.2f}" for r in rounds)
        lines.append(
            f"| {name} | {min(rounds):.2f} | {statistics.median(rounds):.2f} | {shown} "
            f"| {(min(rounds) / wire_best - 1) * 100:+.0f} % |"
        )
    lines += [
        "",
        "| client | its own CPU µs per token: protocol path, no sockets, no SSE (best of 5) |",
        "|---|---|",
        *(f"| {name} | {cost:.3f} |" for name, cost in protocol.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=400, help="answers per round and client")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second per answer")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="also measure wire.py at this git revision")
    args = parser.parse_args(argv)
    import uvloop

    procs.pin_self(0 if (os.cpu_count() or 1) > 1 else None)
    with tempfile.TemporaryDirectory(prefix="chatgate-client-compare-") as workdir:
        fake = procs.Child(
            "fake",
            [sys.executable, "-m", "bench.fake_upstream", "--port", "0", "--rate", "0"],
            log=Path(workdir) / "fake.log",
            core=1 if (os.cpu_count() or 1) > 1 else None,
            stdout_pipe=True,
        )
        try:
            port = int(fake.read_line("LISTENING "))
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            measured = uvloop.run(_measure(args, url))
        finally:
            fake.stop()
    print(_report(args, measured))


if __name__ == "__main__":
    main()
