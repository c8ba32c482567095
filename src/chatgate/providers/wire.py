"""A small HTTP/1.1 client for upstream calls, built for the per-token path.

Why not httpx here: reading a streamed answer through httpx costs an anyio cancel scope, h11's
pure-Python parsing and several generator layers for every token. This client is an asyncio
protocol with httptools' C parser; a streamed body arrives as chunks handed straight to the
reader, and the silence between tokens is watched by the generation service, not per read.

It does what upstreams need and no more: keep-alive connection reuse, TLS (certifi's roots),
outbound proxies — `http://`/`https://` (absolute URIs for plain targets, CONNECT for TLS) and
`socks5://`/`socks5h://` (RFC 1928/1929) — and clear errors that name the failing hop, never a
credential. Redirects are not followed: the key goes only to the configured origin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import httptools
import orjson

from chatgate.errors import UpstreamError, UpstreamTimeout

MAX_IDLE_PER_ORIGIN = 32
USER_AGENT = b"ChatGate"


class ProxyFailed(UpstreamError):
    """The outbound proxy refused or broke the connection."""


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi is a dependency
        return ssl.create_default_context()


@dataclass(frozen=True)
class Proxy:
    scheme: str  # http | https | socks5 | socks5h
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Proxy:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "socks5", "socks5h"):
            raise ValueError("proxy must be http://, https://, socks5:// or socks5h://")
        default = {"http": 80, "https": 443}.get(scheme, 1080)
        return cls(
            scheme,
            parts.hostname or "",
            parts.port or default,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
        )

    @property
    def authorization(self) -> bytes | None:
        if self.username is None:
            return None
        token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
        return f"Basic {token}".encode()


class _Connection(asyncio.Protocol):
    """One upstream connection; parses responses with httptools and hands body chunks over."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: Any = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self.headers_done: asyncio.Future[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.message_complete = False
        self.closed = False
        self.reusable = False
        self.error: BaseException | None = None
        self.raw: deque[bytes] = deque()  # bytes before HTTP (proxy handshakes)
        self.raw_waiter: asyncio.Future[None] | None = None
        self.handshaking = False
        # When set, body bytes go straight to this callback from the protocol (no task switch).
        self.sink: Callable[[bytes], None] | None = None
        self.sink_error: BaseException | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as such.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.handshaking:
            self.raw.append(data)
            self._wake_raw()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - never asked for
            pass
        except httptools.HttpParserError as exc:
            self.error = UpstreamError(
                "The AI service sent a malformed response.", detail=f"HTTP parse error: {exc}"
            )
            self._wake()
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if not self.message_complete and self.error is None:
            self.error = exc or ConnectionResetError("connection closed")
        self._wake()
        self._wake_raw()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        sink = self.sink
        if sink is None:
            self.chunks.append(body)
            self._wake()
            return
        if self.sink_error is not None:
            return  # the rest of a packet whose start the sink refused
        try:
            sink(body)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            self.sink_error = exc
            self._wake()
            if self.transport is not None:
                self.transport.abort()

    def on_message_complete(self) -> None:
        self.message_complete = True
        self.reusable = self.parser.should_keep_alive()
        self._wake()

    # -- helpers ------------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self.wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_raw(self) -> None:
        waiter = self.raw_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def begin_response(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers = []
        self.chunks.clear()
        self.message_complete = False
        self.error = None
        self.headers_done = asyncio.get_running_loop().create_future()

    async def _next_raw(self) -> bytes:
        """The next piece of a proxy handshake, waiting for it to arrive."""
        while not self.raw:
            if self.closed:
                raise ConnectionResetError("the proxy closed the connection")
            self.raw_waiter = asyncio.get_running_loop().create_future()
            await self.raw_waiter
        return self.raw.popleft()

    async def read_raw(self, count: int) -> bytes:
        """Exactly `count` bytes of a proxy handshake."""
        buffer = b""
        while len(buffer) < count:
            buffer += await self._next_raw()
        if len(buffer) > count:
            self.raw.appendleft(buffer[count:])
        return buffer[:count]

    async def read_until(self, marker: bytes, limit: int = 65536) -> bytes:
        buffer = b""
        while marker not in buffer:
            if len(buffer) > limit:
                raise ConnectionError("proxy response too long")
            buffer += await self._next_raw()
        head, _, rest = buffer.partition(marker)
        if rest:
            self.raw.appendleft(rest)
        return head + marker


@dataclass
class Response:
    """A response whose body may still be arriving."""

    status_code: int
    headers: dict[str, str]
    _connection: _Connection
    _pool: Pool
    _key: tuple[Any, ...]
    _finished: bool = field(default=False, init=False)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        connection = self._connection
        loop = asyncio.get_running_loop()
        while True:
            while connection.chunks:
                yield connection.chunks.popleft()
            if connection.message_complete:
                self._finished = True
                return
            if connection.error is not None:
                raise _transport_error(connection.error, before_response=False)
            connection.wakeup = loop.create_future()
            await connection.wakeup

    async def pump(self, feed: Callable[[bytes], None]) -> None:
        """Hand every body chunk to `feed` as it arrives, from the protocol callback itself,
        and return when the body is complete. What `feed` raises is raised here."""
        connection = self._connection
        loop = asyncio.get_running_loop()
        while connection.chunks:
            feed(connection.chunks.popleft())
        connection.sink = feed
        try:
            while True:
                if connection.sink_error is not None:
                    raise connection.sink_error
                if connection.message_complete:
                    self._finished = True
                    return
                if connection.error is not None:
                    raise _transport_error(connection.error, before_response=False)
                connection.wakeup = loop.create_future()
                await connection.wakeup
        finally:
            connection.sink = None
            connection.sink_error = None

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    def json(self) -> Any:
        raise NotImplementedError  # use aread(); kept absent on purpose to avoid a hidden read

    def close(self) -> None:
        connection = self._connection
        if self._finished and connection.reusable and not connection.closed:
            self._pool.release(self._key, connection)
        elif connection.transport is not None:
            # Stopping mid-answer: closing the socket is what tells the upstream to stop.
            connection.transport.abort()


def _transport_error(exc: BaseException, *, before_response: bool) -> UpstreamError:
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return UpstreamTimeout(
            "Could not connect to the AI service in time.", retryable=before_response
        )
    if isinstance(exc, ssl.SSLError):
        return UpstreamError(
            "A secure connection to the AI service could not be made.",
            retryable=False,
            detail=f"TLS: {type(exc).__name__}: {exc}",
        )
    if (
        before_response
        and isinstance(exc, ConnectionRefusedError | OSError)
        and not isinstance(exc, ConnectionResetError)
    ):
        return UpstreamError(
            "Could not connect to the AI service.",
            retryable=True,
            detail=f"{type(exc).__name__}: {exc}",
        )
    return UpstreamError(
        "The connection to the AI service broke off.",
        retryable=before_response,
        detail=f"{type(exc).__name__}: {exc}",
    )


class Pool:
    """Idle keep-alive connections per (scheme, host, port, proxy)."""

    def __init__(self) -> None:
        self._idle: dict[tuple[Any, ...], list[_Connection]] = {}

    def take(self, key: tuple[Any, ...]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def release(self, key: tuple[Any, ...], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < MAX_IDLE_PER_ORIGIN:
            idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()


class UpstreamClient:
    """One per credential: its proxy, its connect timeout, its pool of connections."""

    def __init__(self, *, proxy: str | None, connect_timeout: float) -> None:
        self.proxy = Proxy.parse(proxy) if proxy else None
        self.connect_timeout = connect_timeout
        self._pool = Pool()
        self._tls = _tls_context()

    async def aclose(self) -> None:
        self._pool.close()

    # -- connecting ---------------------------------------------------------------------------
    async def _open(self, scheme: str, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        proxy = self.proxy
        tls = self._tls if scheme == "https" else None
        if proxy is None:
            _, connection = await loop.create_connection(
                _Connection, host, port, ssl=tls, server_hostname=host if tls else None
            )
            return connection
        try:
            _, connection = await loop.create_connection(
                _Connection,
                proxy.host,
                proxy.port,
                ssl=self._tls if proxy.scheme == "https" else None,
                server_hostname=proxy.host if proxy.scheme == "https" else None,
            )
        except OSError as exc:
            raise ProxyFailed(
                "The outbound proxy could not be reached.",
                retryable=True,
                detail=f"proxy {proxy.host}:{proxy.port}: {exc}",
            ) from exc
        connection.handshaking = True
        try:
            if proxy.scheme.startswith("socks5"):
                await self._socks5(connection, proxy, host, port)
            elif tls is not None:
                await self._connect_tunnel(connection, proxy, host, port)
        finally:
            connection.handshaking = False
        if tls is not None and proxy.scheme in ("socks5", "socks5h", "http", "https"):
            assert connection.transport is not None
            transport = await loop.start_tls(
                connection.transport, connection, tls, server_hostname=host
            )
            connection.transport = transport
        return connection

    async def _connect_tunnel(
        self, connection: _Connection, proxy: Proxy, host: str, port: int
    ) -> None:
        assert connection.transport is not None
        lines = [f"CONNECT {host}:{port} HTTP/1.1".encode(), f"Host: {host}:{port}".encode()]
        if proxy.authorization:
            lines.append(b"Proxy-Authorization: " + proxy.authorization)
        connection.transport.write(b"\r\n".join(lines) + b"\r\n\r\n")
        head = await connection.read_until(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split()
        status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        if status != 200:
            reason = (
                "refused ChatGate's proxy credentials"
                if status == 407
                else f"refused the tunnel (HTTP {status})"
            )
            raise ProxyFailed(
                f"The outbound proxy {reason}.",
                detail=f"CONNECT via {proxy.host}:{proxy.port} → {status}",
            )

    async def _socks5(self, connection: _Connection, proxy: Proxy, host: str, port: int) -> None:
        assert connection.transport is not None
        write = connection.transport.write
        methods = b"\x00\x02" if proxy.username is not None else b"\x00"
        write(b"\x05" + bytes([len(methods)]) + methods)
        version, method = await connection.read_raw(2)
        if version != 5 or method == 0xFF:
            raise ProxyFailed(
                "The SOCKS proxy accepts no authentication ChatGate offers.",
                detail=f"socks method {method}",
            )
        if method == 2:
            user = (proxy.username or "").encode()
            password = (proxy.password or "").encode()
            write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            _, status = await connection.read_raw(2)
            if status != 0:
                raise ProxyFailed(
                    "The SOCKS proxy refused ChatGate's proxy credentials.",
                    detail="socks auth failed",
                )
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        if proxy.scheme == "socks5":
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=1)
            address = ipaddress.ip_address(infos[0][4][0])
        else:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                address = None  # socks5h: the proxy resolves the name
        if address is None:
            target = b"\x03" + bytes([len(host.encode())]) + host.encode()
        elif address.version == 4:
            target = b"\x01" + address.packed
        else:
            target = b"\x04" + address.packed
        write(b"\x05\x01\x00" + target + struct.pack(">H", port))
        head = await connection.read_raw(4)
        if head[1] != 0:
            raise ProxyFailed(
                "The SOCKS proxy could not reach the AI service.",
                retryable=True,
                detail=f"socks reply {head[1]}",
            )
        kind = head[3]
        length = 4 if kind == 1 else 16 if kind == 4 else (await connection.read_raw(1))[0]
        await connection.read_raw(length + 2)

    # -- requests -----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> AsyncIterator[Response]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        absolute = (
            self.proxy is not None and self.proxy.scheme in ("http", "https") and scheme == "http"
        )
        key = (scheme, host, port)
        body = orjson.dumps(json) if json is not None else b""
        request = self._request_bytes(
            method, absolute, url, target, host, port, scheme, headers or {}, body
        )
        connection = await self._send(key, scheme, host, port, request, reused=self._pool.take(key))
        response = Response(
            connection.status,
            {name.decode("latin-1"): value.decode("latin-1") for name, value in connection.headers},
            connection,
            self._pool,
            key,
        )
        try:
            yield response
        finally:
            response.close()

    async def _send(
        self,
        key: tuple[Any, ...],
        scheme: str,
        host: str,
        port: int,
        request: bytes,
        *,
        reused: _Connection | None,
    ) -> _Connection:
        """Send the request; a kept-alive connection the server has meanwhile closed is replaced once."""
        connection = reused
        if connection is None:
            try:
                connection = await asyncio.wait_for(
                    self._open(scheme, host, port), timeout=self.connect_timeout
                )
            except UpstreamError:
                raise
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                raise _transport_error(exc, before_response=True) from exc
        connection.begin_response()
        assert connection.transport is not None and connection.headers_done is not None
        connection.transport.write(request)
        await connection.headers_done
        if connection.status == 0:
            if reused is not None:
                return await self._send(key, scheme, host, port, request, reused=None)
            error = connection.error or ConnectionResetError("closed before a response")
            raise _transport_error(error, before_response=True)
        return connection

    def _request_bytes(
        self,
        method: str,
        absolute: bool,
        url: str,
        target: str,
        host: str,
        port: int,
        scheme: str,
        headers: dict[str, str],
        body: bytes,
    ) -> bytes:
        default_port = 443 if scheme == "https" else 80
        host_header = host if port == default_port else f"{host}:{port}"
        lines = [
            f"{method} {url if absolute else target} HTTP/1.1".encode(),
            b"Host: " + host_header.encode(),
        ]
        lines.append(b"User-Agent: " + USER_AGENT)
        if absolute and self.proxy is not None and self.proxy.authorization:
            lines.append(b"Proxy-Authorization: " + self.proxy.authorization)
        for name, value in headers.items():
            lines.append(f"{name}: {value}".encode())
        if body:
            lines.append(b"Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
