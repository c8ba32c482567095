"""Shared plumbing for the fake servers: a threaded asyncio server, HTTP/1.1 parsing, TLS.

Every fake in this package is an asyncio server running on its own event loop in a daemon
thread, so it can be driven from sync tests, from async tests on any event loop, and (through
:meth:`ThreadedServer.serve_foreground`) as the main program of a subprocess.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


class ThreadedServer:
    """An asyncio TCP server on its own event loop, in a background daemon thread.

    Subclasses implement :meth:`handle`. ``start()`` binds (port 0 = a free port) and returns
    once the socket is listening; ``stop()`` cancels every open connection, closes the listening
    socket, stops the loop and joins the thread. Usable as a context manager.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._ssl_context = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- addresses -------------------------------------------------------------------------
    @property
    def netloc(self) -> str:
        """``host:port`` with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- lifecycle ---------------------------------------------------------------------------
    async def _bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._on_client,
            self.host,
            self.port,
            ssl=self._ssl_context,
            reuse_address=True,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _aclose(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    def start(self) -> Self:
        """Bind and serve in a background thread; returns ``self`` once listening."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._bind())
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name=f"fake-{type(self).__name__}", daemon=True)
        self._thread = thread
        thread.start()
        ready.wait(10)
        if errors:
            self._thread = None
            thread.join(5)
            raise errors[0]
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket; join the thread. Idempotent."""
        thread, self._thread = self._thread, None
        loop = self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._aclose(), loop)
            with contextlib.suppress(Exception):
                future.result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = None

    async def serve_foreground(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve on the *current* event loop until SIGTERM/SIGINT (for ``python -m`` use)."""
        await self._bind()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready()
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self._aclose()

    def run_in_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread and return its result (state mutations)."""
        loop = self._loop
        if loop is None or self._thread is None or threading.current_thread() is self._thread:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(10)

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connections -------------------------------------------------------------------------
    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.handle(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except ssl.SSLError:
            pass
        except Exception:  # noqa: BLE001 - a fake must survive and report its own bugs
            print(f"{type(self).__name__}: unhandled error", file=sys.stderr)
            traceback.print_exc()
        finally:
            await close_writer(writer)
            self._tasks.discard(task)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a stream writer without ever raising or hanging."""
    if writer.transport.is_closing():
        # Already closing (or aborted): let the loop finish closing it.
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(writer.wait_closed(), 1)
        return
    writer.close()
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(writer.wait_closed(), 1)


def abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Abort the TCP connection with an RST (SO_LINGER 0 + abort)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
    writer.transport.abort()


# -- HTTP/1.1 ---------------------------------------------------------------------------------
class BadRequestError(Exception):
    pass


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes = b""
    path: str = ""
    query: str = ""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    """Parse a request (or response) head without the final blank line."""
    text = head.decode("latin-1").lstrip("\r\n")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) != 3:
        raise BadRequestError(f"bad start line {lines[0]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequestError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return parts[0], parts[1], parts[2], headers


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return {529: "Site Overloaded"}.get(status, "Error")


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class BufferedReader:
    """A stream reader with a local buffer, so a background watcher can read ahead safely."""

    reader: asyncio.StreamReader
    buf: bytearray = field(default_factory=bytearray)

    async def fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.buf += data
        return True

    async def read_head(self) -> bytes | None:
        """Bytes up to (excluding) the blank line; None on a clean EOF before any byte."""
        while True:
            # Tolerate stray CRLFs between requests (RFC 9112 §2.2).
            while self.buf[:2] == b"\r\n":
                del self.buf[:2]
            idx = self.buf.find(b"\r\n\r\n")
            if idx >= 0:
                head = bytes(self.buf[:idx])
                del self.buf[: idx + 4]
                return head
            if len(self.buf) > MAX_HEAD_BYTES:
                raise BadRequestError("request head too large")
            if not await self.fill():
                if self.buf.strip():
                    raise BadRequestError("connection closed mid-head")
                return None

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self.fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), n)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def read_line(self) -> bytes:
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[: idx + 2]
                return line
            if len(self.buf) > MAX_HEAD_BYTES:
                raise BadRequestError("line too long")
            if not await self.fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), None)

    async def read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = await self.read_line()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while await self.read_line():  # trailers
                    pass
                return bytes(body)
            body += await self.read_exact(size)
            await self.read_line()
            if len(body) > MAX_BODY_BYTES:
                raise BadRequestError("body too large")

    async def read_request(self) -> HttpRequest | None:
        head = await self.read_head()
        if head is None:
            return None
        method, target, version, raw_headers = parse_head(head)
        headers = {name.lower(): value for name, value in raw_headers}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self.read_chunked()
        else:
            length = int(headers.get("content-length", "0") or "0")
            if length < 0 or length > MAX_BODY_BYTES:
                raise BadRequestError("bad content-length")
            body = await self.read_exact(length)
        path, _, query = target.partition("?")
        if "://" in path:  # absolute-form target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return HttpRequest(method.upper(), target, version, headers, raw_headers, body, path, query)


# -- TLS --------------------------------------------------------------------------------------
@functools.cache
def self_signed_cert() -> tuple[str, str]:
    """(cert_file, key_file) of a throwaway self-signed cert for localhost/127.0.0.1/::1.

    Made once per process with the ``openssl`` CLI; raises RuntimeError if it is missing.
    The certificate doubles as its own CA file for clients (``verify=ssl_client_context()``).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed for tls=True")
    directory = tempfile.mkdtemp(prefix="chatgate-fake-tls-")
    atexit.register(shutil.rmtree, directory, True)
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


def ssl_server_context() -> ssl.SSLContext:
    cert, key = self_signed_cert()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def ssl_client_context() -> ssl.SSLContext:
    """A client context that trusts the fakes' self-signed certificate."""
    cert, _ = self_signed_cert()
    return ssl.create_default_context(cafile=cert)


def wait_until(
    predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005
) -> None:
    """Poll ``predicate`` (sync) until true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005
) -> None:
    """Poll ``predicate`` without blocking the caller's event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
