"""The fake's side of one connection: reading requests, writing responses and SSE events with
the scenarios' wire quirks, and noticing the client leave."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Callable, Sequence

import orjson

from tests.fakes._server import BufferedReader, abort_with_rst, response_head
from tests.fakes.upstream.records import Json
from tests.fakes.upstream.scenarios import Scenario

__all__ = [
    "AbortedError",
    "ClientGoneError",
    "Connection",
    "SseWriter",
    "split_for_wire",
    "sse_data",
]


class ClientGoneError(Exception):
    pass


class AbortedError(Exception):
    pass


class Connection:
    """One client connection: request reading, response writing, disconnect watching."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.input = BufferedReader(reader)
        self.writer = writer
        self.gone = asyncio.Event()
        self.gone_at: float | None = None
        self.aborted = False
        self._watcher: asyncio.Task[None] | None = None
        self._finishers: list[Callable[[], None]] = []

    def on_finish(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` just before the response's last bytes go out (or when it ends early),
        so whatever a client observes after the end of a response is already recorded."""
        self._finishers.append(fn)

    def finish(self) -> None:
        finishers, self._finishers = self._finishers, []
        for fn in finishers:
            fn()

    def watch(self) -> None:
        """Start noticing the client closing the connection while a response is produced."""

        async def run() -> None:
            try:
                while await self.input.fill():
                    pass
            except (ConnectionError, OSError, ssl.SSLError):
                pass
            self.gone_at = time.monotonic()
            self.gone.set()

        if self._watcher is None and not self.gone.is_set():
            self._watcher = asyncio.create_task(run())

    async def unwatch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            await asyncio.wait([watcher])  # never swallows a cancellation of this task

    def check(self) -> None:
        if self.gone.is_set() or self.writer.transport.is_closing():
            raise ClientGoneError

    async def write(self, data: bytes) -> None:
        self.check()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            raise ClientGoneError from exc

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up (raising) as soon as the client goes away."""
        self.check()
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.gone.wait(), seconds)
        except TimeoutError:
            return
        raise ClientGoneError

    async def send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        keep_alive: bool,
    ) -> None:
        all_headers = [
            *headers,
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
        self.check()
        self.finish()
        await self.write(response_head(status, all_headers) + body)

    async def send_json(
        self,
        status: int,
        payload: Json,
        *,
        keep_alive: bool,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        await self.send(
            status,
            [("Content-Type", "application/json"), *(headers or [])],
            orjson.dumps(payload),
            keep_alive=keep_alive,
        )

    async def start_chunked(
        self, status: int, headers: list[tuple[str, str]], *, keep_alive: bool
    ) -> None:
        all_headers = [
            *headers,
            ("Transfer-Encoding", "chunked"),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
        await self.write(response_head(status, all_headers))

    async def chunk(self, data: bytes) -> None:
        if data:
            await self.write(b"%x\r\n%b\r\n" % (len(data), data))

    async def end_chunked(self) -> None:
        self.check()
        self.finish()
        await self.write(b"0\r\n\r\n")

    async def reset(self) -> None:
        """Abort the connection with a TCP RST after the bytes already written left."""
        with contextlib.suppress(Exception):
            await self.writer.drain()
        await asyncio.sleep(0.01)
        self.finish()
        self.aborted = True
        abort_with_rst(self.writer)


class SseWriter:
    """Renders SSE events (lists of lines) with the scenario's wire quirks."""

    _NOISE = (": keep-alive\n\n", "\n", ":\n\n", "retry: 3000\n\n", ": ping\n")

    def __init__(self, conn: Connection, scenario: Scenario) -> None:
        self.conn = conn
        self.eol = "\r\n" if scenario.name == "malformed_crlf" else "\n"
        self.noisy = scenario.name == "malformed_comments"
        self.split = scenario.name == "split_bytes"
        self.chunk_sizes: tuple[int, ...] = tuple(scenario.params.get("chunk_sizes") or (1,))
        self.write_delay = float(scenario.params.get("write_delay") or 0.0)
        self.count = 0
        self._cut = 0

    def render(self, lines: Sequence[str]) -> bytes:
        i = self.count
        self.count += 1
        if not self.noisy:
            return (self.eol.join(lines) + self.eol * 2).encode()
        body = list(lines)
        if not any(line.startswith("event:") for line in body) and i % 2 == 0:
            body.insert(0, "event: message")
        if len(body) > 1:
            body.insert(1, ": interleaved comment")
        if i % 3 == 1:
            body.append(f"id: {i}")
        return (self._NOISE[i % len(self._NOISE)] + "\n".join(body) + "\n\n").encode()

    async def send(self, lines: Sequence[str]) -> None:
        data = self.render(lines)
        if not self.split:
            await self.conn.chunk(data)
            return
        pieces = split_for_wire(data, self.chunk_sizes, offset=self._cut)
        self._cut += len(pieces)
        for piece in pieces:
            await self.conn.chunk(piece)
            await self.conn.sleep(self.write_delay)


def split_for_wire(data: bytes, chunk_sizes: Sequence[int], *, offset: int = 0) -> list[bytes]:
    """The ``split_bytes`` cutter: pieces of ``chunk_sizes`` (cycled from ``offset``), plus a
    forced cut inside every ``data:`` (after ``da``) and after the first byte of every
    multi-byte UTF-8 character. The pieces concatenate back to ``data``."""
    forced = sorted(
        {m.start() + 2 for m in re.finditer(rb"data:", data)}
        | {i + 1 for i, b in enumerate(data) if b >= 0xC0}
    )
    sizes = [max(1, int(size)) for size in chunk_sizes] or [1]
    pieces: list[bytes] = []
    pos = 0
    cut = offset
    next_forced = 0
    while pos < len(data):
        end = min(len(data), pos + sizes[cut % len(sizes)])
        cut += 1
        while next_forced < len(forced) and forced[next_forced] <= pos:
            next_forced += 1
        if next_forced < len(forced) and forced[next_forced] < end:
            end = forced[next_forced]
        pieces.append(data[pos:end])
        pos = end
    return pieces


def sse_data(payload: Json) -> str:
    return "data: " + orjson.dumps(payload).decode()
