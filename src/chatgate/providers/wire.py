"""A small HTTP/1.1 client for upstream calls, built for the per-token path.

Why not httpx here: reading a streamed answer through httpx costs an anyio cancel scope, h11's
pure-Python parsing and several generator layers for every token. This client is an asyncio
protocol with httptools' C parser; a streamed body arrives as chunks handed straight to the
reader, and the silence between tokens is watched by the generation service, not per read.

It reads whatever HTTP/1.1 lets a server send: bodies framed by `Content-Length`, by chunks (with
extensions and trailers) or by the close of the connection (HTTP/1.0 servers, some proxies);
interim `1xx` responses before the real one; a `Content-Encoding` it did not ask for (gzip or
deflate, undone as it streams). Around that: keep-alive connection reuse, with one transparent
retry when a kept-alive connection turns out closed before any byte of the answer; IPv6 literals;
TLS (certifi's roots, plus an administrator's CA bundle); outbound proxies — `http://`/`https://`
(absolute URIs for plain targets, CONNECT for TLS) and `socks5://`/`socks5h://` (RFC 1928/1929);
and clear errors that name the failing hop, never a credential. Redirects are refused with the
new location named: the key goes only to the configured origin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httptools
import orjson

from chatgate.errors import UpstreamError, UpstreamTimeout

MAX_IDLE_PER_ORIGIN = 32
USER_AGENT = b"ChatGate"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ProxyFailed(UpstreamError):
    """The outbound proxy refused or broke the connection."""


class _StrayResponse(Exception):
    """A response nobody asked for: bytes after a complete answer, or on an idle connection."""


class _NothingAsked:
    """The parser of a connection that has sent no request yet: whatever arrives is stray."""

    def feed_data(self, data: bytes) -> None:
        raise _StrayResponse


_NOTHING_ASKED = _NothingAsked()


def _tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """certifi's roots, plus the administrator's CA bundle (PEM) when one is configured; the
    configuration has already checked that the bundle can be read (config.CABundle)."""
    try:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi is a dependency
        context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def _authority(host: str, port: int, default_port: int | None = None) -> str:
    """`host:port` as HTTP writes it: IPv6 literals in brackets, the default port left out."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default_port else f"{shown}:{port}"


class _Decoder:
    """Undoes a `Content-Encoding` the server applied although ChatGate asked for `identity`,
    piece by piece as the body arrives. gzip and zlib-wrapped deflate are told apart by their
    header; a `deflate` body without the zlib wrapper (as some servers send) is read raw."""

    __slots__ = ("_head", "_raw_allowed", "_zlib")

    def __init__(self, coding: str) -> None:
        self._zlib = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        self._raw_allowed = coding == "deflate"
        self._head = b""  # input kept until the first output, to start over as raw deflate

    def decompress(self, data: bytes) -> bytes:
        if not self._raw_allowed:
            return self._zlib.decompress(data)
        self._head += data
        try:
            out = self._zlib.decompress(data)
        except zlib.error:
            self._raw_allowed = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._zlib.decompress(self._head)
        if out:
            self._raw_allowed = False
            self._head = b""
        return out

    def flush(self) -> bytes:
        return self._zlib.flush()


def _decoder_for(value: bytes) -> tuple[_Decoder | None, str | None]:
    """(a decoder, None), (None, None) for identity, or (None, the coding ChatGate cannot undo)."""
    codings = [c.strip().lower() for c in value.decode("latin-1").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None, None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Decoder(codings[0]), None
    return None, ", ".join(codings)


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
        self.parser: Any = _NOTHING_ASKED
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        # Lists, not deques: a connection lives as long as its stream, and a deque reserves a
        # 64-item block (760 bytes) for the few pieces that ever wait in it.
        self.chunks: list[bytes] = []  # taken whole by the reader (take_chunks)
        self.headers_done: asyncio.Future[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.message_complete = False
        self.closed = False
        self.reusable = False
        self.error: BaseException | None = None
        self.answered = False  # a byte of a response (interim ones included) has arrived
        self.interim = False  # inside a 1xx response; the real one follows
        self.until_close = False  # the body has no length: it ends when the server closes
        self.decoder: _Decoder | None = None
        self.undecodable: str | None = None  # a Content-Encoding ChatGate cannot undo
        self.raw: list[bytes] = []  # bytes before HTTP (proxy handshakes)
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
        except (httptools.HttpParserError, httptools.HttpParserUpgrade, _StrayResponse) as exc:
            if self.message_complete or self.parser is _NOTHING_ASKED:
                # Bytes after a complete answer (or before any question): the answer stands,
                # the connection is not used again.
                self.reusable = False
                if self.transport is not None:
                    self.transport.abort()
                return
            self._fail(
                UpstreamError(
                    "The AI service sent a malformed response.",
                    detail=f"HTTP parse error: {exc}",
                )
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if (
            exc is None
            and self.until_close
            and not self.message_complete
            and self.error is None
            and self.sink_error is None
        ):
            self._complete()  # a body without a length ends with the connection: it is whole
        if not self.message_complete and self.error is None:
            self.error = exc or ConnectionResetError("connection closed")
        self._wake()
        self._wake_raw()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)
        # The parser calls back into this protocol: without this, a closed connection is a
        # reference cycle left for a full garbage collection.
        self.parser = _NOTHING_ASKED

    # -- httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:  # the first byte of a response (llhttp skips CRLFs)
        if self.message_complete:
            raise _StrayResponse  # stops the parser; data_received drops the connection
        self.answered = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # 100 Continue, 103 Early Hints: no body; the parser goes on to the real response.
            self.interim = True
            self.headers = []
            return
        self.status = status
        framed = False
        for name, value in self.headers:
            if name == b"content-length":
                framed = True
            elif name == b"transfer-encoding":
                framed = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
            elif name == b"content-encoding":
                self.decoder, self.undecodable = _decoder_for(value)
        self.until_close = not framed and status not in (204, 304)
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.decoder is not None:
            body = self._decode(body)
            if not body:
                return
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

    def _decode(self, body: bytes) -> bytes:
        assert self.decoder is not None
        if self.error is not None:
            return b""  # the rest of a packet after a decoding failure
        try:
            return self.decoder.decompress(body)
        except zlib.error as exc:
            self._fail(_undecodable_body(exc))
            return b""

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        self.reusable = self.parser.should_keep_alive()
        self._complete()

    # -- helpers ------------------------------------------------------------------------------
    def _complete(self) -> None:
        decoder, self.decoder = self.decoder, None
        if decoder is not None:
            try:
                rest = decoder.flush()
            except zlib.error as exc:  # pragma: no cover - flush reports truncation by returning
                self._fail(_undecodable_body(exc))
                return
            if rest:
                self.on_body(rest)  # the decoder is unset: delivered as it is
        self.message_complete = True
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self.reusable = False
        self._wake()
        if self.transport is not None:
            self.transport.abort()

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
        self.chunks = []
        self.message_complete = False
        self.error = None
        self.answered = False
        self.interim = self.until_close = False
        self.decoder = None
        self.undecodable = None
        self.headers_done = asyncio.get_running_loop().create_future()

    def take_headers(self) -> list[tuple[bytes, bytes]]:
        """The response's headers, which the connection then lets go of: the `Response` holds
        them as text for as long as the body streams, and that is minutes."""
        headers, self.headers = self.headers, []
        return headers

    def take_chunks(self) -> list[bytes]:
        """The body chunks that arrived since the last call, in order."""
        chunks, self.chunks = self.chunks, []
        return chunks

    async def _next_raw(self) -> bytes:
        """The next piece of a proxy handshake, waiting for it to arrive."""
        while not self.raw:
            if self.closed:
                raise ConnectionResetError("the proxy closed the connection")
            self.raw_waiter = asyncio.get_running_loop().create_future()
            await self.raw_waiter
        return self.raw.pop(0)

    async def read_raw(self, count: int) -> bytes:
        """Exactly `count` bytes of a proxy handshake."""
        buffer = b""
        while len(buffer) < count:
            buffer += await self._next_raw()
        if len(buffer) > count:
            self.raw.insert(0, buffer[count:])
        return buffer[:count]

    async def read_until(self, marker: bytes, limit: int = 65536) -> bytes:
        buffer = b""
        while marker not in buffer:
            if len(buffer) > limit:
                raise ConnectionError("proxy response too long")
            buffer += await self._next_raw()
        head, _, rest = buffer.partition(marker)
        if rest:
            self.raw.insert(0, rest)
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
            # Chunks that arrive while one is yielded are taken before the end is looked at.
            while connection.chunks:
                for chunk in connection.take_chunks():
                    yield chunk
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
        for chunk in connection.take_chunks():  # `feed` returns before any more can arrive
            feed(chunk)
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


def _undecodable_body(exc: zlib.error) -> UpstreamError:
    return UpstreamError(
        "The AI service sent a compressed answer that could not be decoded.",
        detail=f"Content-Encoding body: zlib: {exc}",
    )


def _shown_location(url: str, location: str | None) -> str | None:
    """Where a redirect points, as scheme://host/path: no credentials, query or fragment."""
    if not location:
        return None
    parts = urlsplit(urljoin(url, location.strip()))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


def refused_response(url: str, status: int, headers: dict[str, str]) -> UpstreamError | None:
    """The error for a response ChatGate will not read, or None: a redirect (never followed: the
    key goes only to the configured origin) or a successful body in an encoding it cannot undo."""
    if status in REDIRECTS:
        shown = _shown_location(url, headers.get("location"))
        if shown is None:
            return UpstreamError(
                f"The AI service answered with a redirect (HTTP {status}) to no usable address; "
                "check the provider's base URL.",
                detail=f"HTTP {status} without a usable Location",
            )
        return UpstreamError(
            f"The AI service redirected to {shown} (HTTP {status}). ChatGate does not follow "
            "redirects: set the provider's base URL to that address, without the endpoint path.",
            detail=f"HTTP {status} redirect to {shown}",
        )
    coding = headers.get("content-encoding")
    if coding and status < 300 and _decoder_for(coding.encode("latin-1"))[1] is not None:
        return UpstreamError(
            f"The AI service sent its answer compressed as {coding.strip()!r}, which ChatGate did "
            "not ask for and cannot decode; a proxy in front of the service is probably "
            "misconfigured.",
            detail=f"HTTP {status} Content-Encoding: {coding}",
        )
    return None


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

    def __init__(
        self, *, proxy: str | None, connect_timeout: float, ca_bundle: str | None = None
    ) -> None:
        self.proxy = Proxy.parse(proxy) if proxy else None
        self.connect_timeout = connect_timeout
        self._pool = Pool()
        self._tls = _tls_context(ca_bundle)

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
        authority = _authority(host, port).encode()
        lines = [b"CONNECT " + authority + b" HTTP/1.1", b"Host: " + authority]
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
        response = await self.open(method, url, json=json, headers=headers)
        try:
            yield response
        finally:
            response.close()

    async def open(
        self, method: str, url: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        """Send the request; its response once the head has arrived, for the caller to close.

        Nothing of the request outlives this call: a streamed answer lasts minutes, and its
        request is the whole conversation, three times over (the payload, its JSON, the bytes
        sent; orjson's buffer alone is 4 KB for a one-line question), for every stream.
        """
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
        del json, body
        connection = await self._send(key, scheme, host, port, request, reused=self._pool.take(key))
        del request
        response = Response(
            connection.status,
            {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in connection.take_headers()
            },
            connection,
            self._pool,
            key,
        )
        refused = refused_response(url, response.status_code, response.headers)
        if refused is not None:
            response.close()
            raise refused
        return response

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
        """Send the request and wait for the response's head.

        A kept-alive connection may have been closed by the server while it sat idle; that shows
        when the write fails or when the connection ends without one byte of a response. Then
        the request never reached the server, and it is sent once more on a fresh connection.
        After any byte of a response, never: the server may be acting on it.
        """
        connection = reused
        if connection is None or connection.transport is None or connection.transport.is_closing():
            reused = None
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
        try:
            connection.transport.write(request)
            await connection.headers_done
            connection.headers_done = None  # done: not held while the body streams
        except BaseException:
            connection.transport.abort()  # given up while waiting: the upstream must stop too
            raise
        if connection.status == 0:
            if reused is not None and not connection.answered:
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
        lines = [
            f"{method} {url if absolute else target} HTTP/1.1".encode(),
            b"Host: " + _authority(host, port, default_port).encode(),
        ]
        lines.append(b"User-Agent: " + USER_AGENT)
        if not any(name.lower() == "accept-encoding" for name in headers):
            lines.append(b"Accept-Encoding: identity")  # tokens must flow; see _Decoder
        if absolute and self.proxy is not None and self.proxy.authorization:
            lines.append(b"Proxy-Authorization: " + self.proxy.authorization)
        for name, value in headers.items():
            lines.append(f"{name}: {value}".encode())
        if body:
            lines.append(b"Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
