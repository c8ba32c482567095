"""A lean streaming HTTP/1.1 client: asyncio protocol + httptools' C response parser.

aiohttp's `StreamReader` wakes a coroutine for every chunk; at 600 streams × 50 tokens/s on the
core shared with the fake that costs more than the whole budget. Here the bytes are handled in
the `data_received` callback itself: one monotonic timestamp per read, the body scanned for
`w00001 `-style tokens up to the last complete line, and only the first sighting of each
sequence number kept (so gateways that resend the whole text still match).
"""

from __future__ import annotations

import asyncio
import time
from array import array
from dataclasses import dataclass, field
from typing import cast

import httptools

from bench.protocol import TOKEN_RE

SAMPLE_BYTES = 1536


@dataclass(slots=True)
class StreamResult:
    """Everything the client saw of one streamed request."""

    marker: str
    conversation: str | None = None
    sent_ns: int = 0
    headers_ns: int = 0
    end_ns: int = 0
    status: int = 0
    recv: array[int] = field(default_factory=lambda: array("q"))
    read_events: int = 0  # reads that carried at least one new token
    wire_bytes: int = 0  # bytes on the socket for this response, headers and framing included
    body_bytes: int = 0
    error: str | None = None
    sample: bytes = b""


class StreamConnection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.result: StreamResult | None = None
        self.done: asyncio.Future[None] | None = None
        self.now = 0
        self.tail = b""
        self.expected = 1
        self.reusable = True

    @classmethod
    async def open(cls, host: str, port: int) -> StreamConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    @property
    def is_open(self) -> bool:
        return self.transport is not None and self.reusable and not self.transport.is_closing()

    async def request(self, raw: bytes, result: StreamResult, timeout: float) -> None:
        """Send `raw` (a whole HTTP request) and follow the response into `result`."""
        assert self.transport is not None
        self.result = result
        self.tail = b""
        self.expected = 1
        self.done = asyncio.get_running_loop().create_future()
        result.sent_ns = time.monotonic_ns()
        self.transport.write(raw)
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
        except TimeoutError:
            result.error = result.error or "timeout"
            self.close()
        finally:
            self.result = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    # -- asyncio ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.now = time.monotonic_ns()
        result = self.result
        if result is None:
            return
        result.wire_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            result.error = f"bad HTTP: {exc}"
            self._finish()
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        if self.result is not None and self.done is not None and not self.done.done():
            self.result.error = self.result.error or "connection lost"
            self._finish()

    # -- httptools callbacks -----------------------------------------------------------------
    def on_headers_complete(self) -> None:
        assert self.result is not None
        self.result.status = self.parser.get_status_code()
        self.result.headers_ns = self.now
        if not self.parser.should_keep_alive():
            self.reusable = False

    def on_body(self, body: bytes) -> None:
        result = self.result
        assert result is not None
        result.body_bytes += len(body)
        if len(result.sample) < SAMPLE_BYTES:
            result.sample += body[: SAMPLE_BYTES - len(result.sample)]
        buffer = self.tail + body if self.tail else body
        cut = buffer.rfind(b"\n") + 1
        if not cut:
            self.tail = buffer
            return
        scan, self.tail = buffer[:cut], buffer[cut:]
        found = TOKEN_RE.findall(scan)
        if found:
            now, expected, recv = self.now, self.expected, result.recv
            fresh = False
            for digits in found:
                seq = int(digits)
                if seq < expected:
                    continue  # the whole text again (cumulative gateways)
                if seq > expected and result.error is None:
                    result.error = f"token {expected} missing"
                while expected <= seq:
                    recv.append(now if expected == seq else 0)
                    expected += 1
                fresh = True
            self.expected = expected
            if fresh:
                result.read_events += 1
        if (
            b"event: error" in scan
            or b'{"error"' in scan
            or (b"event: done" in scan and b'"status":"complete"' not in scan)
        ):
            result.error = result.error or scan[-300:].decode("utf-8", "replace")

    def on_message_complete(self) -> None:
        if self.result is not None:
            self.result.end_ns = self.now
            if self.result.status != 200 and self.result.error is None:
                self.result.error = f"HTTP {self.result.status}: " + self.result.sample[
                    :200
                ].decode("utf-8", "replace")
        self._finish()

    def _finish(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


def build_request(
    host: str, port: int, path: str, body: bytes, headers: list[tuple[str, str]]
) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
