"""Real outbound proxies on loopback, to prove upstream traffic goes where it is configured.

* :class:`HttpConnectProxy` - an HTTP proxy: ``CONNECT host:port`` tunnels and absolute-URI
  forwarding of plain ``http://`` requests, optional Basic ``Proxy-Authorization``.
* :class:`Socks5Proxy` - RFC 1928 (CONNECT only) with optional RFC 1929 username/password;
  IPv4, domain-name (what ``socks5h://`` clients send) and IPv6 address types.
* :class:`BufferingProxy` - a reverse proxy that reads the whole upstream response (or
  ``buffer_size`` bytes of it) before sending anything on, like a buffering proxy or CDN.
* :class:`Blackhole` - a TCP port whose connects never complete (connect-timeout tests).

Each runs on its own event loop in a background thread (``start()``/``stop()``/``with``).
``.connections`` lists the ``(host, port)`` targets the proxy connected (or tried to connect)
to, ``.auth_failures`` counts refused credentials.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
import struct
from types import TracebackType
from typing import Self
from urllib.parse import quote, urlsplit

from tests.fakes._server import (
    BadRequestError,
    BufferedReader,
    ThreadedServer,
    close_writer,
    parse_head,
    response_head,
)

__all__ = ["Blackhole", "BufferingProxy", "HttpConnectProxy", "Socks5Proxy"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF; then half-close the destination."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _relay(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    up_r: asyncio.StreamReader,
    up_w: asyncio.StreamWriter,
) -> None:
    """Relay both ways until either side finishes, then close both."""
    tasks = [
        asyncio.create_task(_pipe(client_r, up_w)),
        asyncio.create_task(_pipe(up_r, client_w)),
    ]
    try:
        # The upstream -> client direction ending ends the exchange; a client that closes
        # (EOF) ends it too, so the upstream sees the disconnect promptly.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _check_basic(header: str, username: str, password: str) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    return decoded == f"{username}:{password}"


def _userinfo(username: str | None, password: str | None) -> str:
    if username is None:
        return ""
    return f"{quote(username, safe='')}:{quote(password or '', safe='')}@"


def _split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port else default_port
    host, sep, port = authority.rpartition(":")
    if not sep:
        return authority, default_port
    return host, int(port)


class HttpConnectProxy(ThreadedServer):
    """HTTP proxy: CONNECT tunnels + absolute-URI forwarding, optional Basic auth."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.username = username
        self.password = password
        self.connect_timeout = connect_timeout
        self.connections: list[tuple[str, int]] = []
        self.requests: list[tuple[str, str]] = []  # (method, request target)
        self.auth_failures = 0

    @property
    def url(self) -> str:
        return f"http://{_userinfo(self.username, self.password)}{self.netloc}"

    async def _reply(self, writer: asyncio.StreamWriter, status: int, extra: str = "") -> None:
        headers = [("Content-Length", "0"), ("Connection", "close")]
        if extra:
            headers.append(("Proxy-Authenticate", extra))
        writer.write(response_head(status, headers))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, version, headers = parse_head(head[:-4])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadRequestError):
            return
        method = method.upper()
        self.requests.append((method, target))
        lowered = {name.lower(): value for name, value in headers}
        if self.username is not None and not _check_basic(
            lowered.get("proxy-authorization", ""), self.username, self.password or ""
        ):
            self.auth_failures += 1
            await self._reply(writer, 407, 'Basic realm="fake-proxy"')
            return
        if method == "CONNECT":
            target_host, target_port = _split_host_port(target, 443)
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                await self._reply(writer, 400)
                return
            target_host, target_port = url.hostname, url.port or 80
        self.connections.append((target_host, target_port))
        try:
            up_r, up_w = await asyncio.wait_for(
                asyncio.open_connection(target_host, target_port), self.connect_timeout
            )
        except (OSError, TimeoutError):
            await self._reply(writer, 502)
            return
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await _relay(reader, writer, up_r, up_w)
                return
            url = urlsplit(target)
            origin_form = (url.path or "/") + (f"?{url.query}" if url.query else "")
            kept = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP]
            lines = [f"{method} {origin_form} {version}", *(f"{n}: {v}" for n, v in kept)]
            lines.append("Connection: close")
            up_w.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await up_w.drain()
            await self._forward_one(reader, writer, up_r, up_w)
        finally:
            await close_writer(up_w)

    async def _forward_one(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
    ) -> None:
        """Forward one request body and the whole response; the connection then closes."""
        body = asyncio.create_task(_pipe(reader, up_w))
        try:
            try:
                head = await up_r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await self._reply(writer, 502)
                return
            status_line, _, rest = head[:-4].partition(b"\r\n")
            kept = [
                line
                for line in rest.split(b"\r\n")
                if line and line.split(b":", 1)[0].strip().lower().decode() not in _HOP_BY_HOP
            ]
            writer.write(b"\r\n".join([status_line, *kept, b"Connection: close"]) + b"\r\n\r\n")
            await writer.drain()
            await _pipe(up_r, writer)
        finally:
            body.cancel()
            await asyncio.wait([body])  # never swallows a cancellation of this task


class Socks5Proxy(ThreadedServer):
    """SOCKS5 proxy (RFC 1928 CONNECT), optional RFC 1929 username/password."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.username = username
        self.password = password
        self.connect_timeout = connect_timeout
        self.connections: list[tuple[str, int]] = []
        self.address_types: list[str] = []  # "ipv4" | "domain" | "ipv6", per request
        self.auth_failures = 0

    @property
    def url(self) -> str:
        return f"socks5://{_userinfo(self.username, self.password)}{self.netloc}"

    @property
    def url_remote_dns(self) -> str:
        """The same proxy as a ``socks5h://`` URL (the proxy resolves host names)."""
        return "socks5h://" + self.url.removeprefix("socks5://")

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
        writer.write(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        if version != 5:
            return
        methods = await reader.readexactly(count)
        wanted = 0x02 if self.username is not None else 0x00
        if wanted not in methods:
            if self.username is not None:
                self.auth_failures += 1
            writer.write(b"\x05\xff")
            await writer.drain()
            return
        writer.write(bytes([5, wanted]))
        await writer.drain()
        if self.username is not None:
            sub_version, ulen = await reader.readexactly(2)
            username = (await reader.readexactly(ulen)).decode(errors="replace")
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode(errors="replace")
            ok = sub_version == 1 and (username, password) == (self.username, self.password)
            writer.write(bytes([1, 0 if ok else 1]))
            await writer.drain()
            if not ok:
                self.auth_failures += 1
                return
        version, command, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            target_host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            self.address_types.append("ipv4")
        elif address_type == 3:
            (length,) = await reader.readexactly(1)
            target_host = (await reader.readexactly(length)).decode("idna")
            self.address_types.append("domain")
        elif address_type == 4:
            target_host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            self.address_types.append("ipv6")
        else:
            await self._reply(writer, 0x08)  # address type not supported
            return
        (target_port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            await self._reply(writer, 0x07)  # command not supported
            return
        self.connections.append((target_host, target_port))
        try:
            up_r, up_w = await asyncio.wait_for(
                asyncio.open_connection(target_host, target_port), self.connect_timeout
            )
        except ConnectionRefusedError:
            await self._reply(writer, 0x05)
            return
        except (OSError, TimeoutError):
            await self._reply(writer, 0x04)  # host unreachable
            return
        try:
            bound_host, bound_port = up_w.get_extra_info("sockname")[:2]
            address = ipaddress.ip_address(bound_host)
            kind = 1 if address.version == 4 else 4
            writer.write(bytes([5, 0, 0, kind]) + address.packed + struct.pack("!H", bound_port))
            await writer.drain()
            await _relay(reader, writer, up_r, up_w)
        finally:
            await close_writer(up_w)


class BufferingProxy(ThreadedServer):
    """Reverse proxy that holds the upstream response back, like a buffering proxy or CDN.

    ``buffer_size=None``: nothing reaches the client before the upstream response is complete
    (upstream closed the connection). Otherwise bytes are passed on in blocks of at least
    ``buffer_size`` (like nginx ``proxy_buffering on`` with small buffers), plus the rest at
    the end.
    """

    def __init__(
        self,
        target: str,
        *,
        buffer_size: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"BufferingProxy needs an http:// target, got {target!r}")
        self.target_host = url.hostname
        self.target_port = url.port or 80
        self.buffer_size = buffer_size
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.flushes: list[int] = []  # sizes of the blocks passed to clients

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = BufferedReader(reader)
        request = await client.read_request()
        if request is None:
            return
        self.requests.append((request.method, request.target))
        up_r, up_w = await asyncio.open_connection(self.target_host, self.target_port)
        try:
            host = f"{self.target_host}:{self.target_port}"
            if ":" in self.target_host:
                host = f"[{self.target_host}]:{self.target_port}"
            kept = [
                (n, v)
                for n, v in request.raw_headers
                if n.lower() not in _HOP_BY_HOP | {"host", "content-length", "transfer-encoding"}
            ]
            lines = [f"{request.method} {request.target} HTTP/1.1", f"Host: {host}"]
            lines += [f"{n}: {v}" for n, v in kept]
            lines += [f"Content-Length: {len(request.body)}", "Connection: close"]
            up_w.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
            await up_w.drain()
            relay = asyncio.create_task(self._buffer_and_send(up_r, writer))
            client_gone = asyncio.create_task(self._wait_eof(client))
            await asyncio.wait([relay, client_gone], return_when=asyncio.FIRST_COMPLETED)
            for task in (relay, client_gone):
                task.cancel()
            await asyncio.gather(relay, client_gone, return_exceptions=True)
        finally:
            await close_writer(up_w)

    @staticmethod
    async def _wait_eof(client: BufferedReader) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while await client.fill():
                pass

    async def _buffer_and_send(
        self, up_r: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        pending = bytearray()
        first = True
        while data := await up_r.read(65536):
            pending += data
            if first:
                # Make sure the client also learns the connection closes after this response.
                end = pending.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(pending[:end])
                status_line, _, rest = head.partition(b"\r\n")
                kept = [
                    line
                    for line in rest.split(b"\r\n")
                    if line and line.split(b":", 1)[0].strip().lower().decode() not in _HOP_BY_HOP
                ]
                pending[: end + 4] = (
                    b"\r\n".join([status_line, *kept, b"Connection: close"]) + b"\r\n\r\n"
                )
                first = False
            if self.buffer_size is not None and len(pending) >= self.buffer_size:
                await self._flush(writer, pending)
        await self._flush(writer, pending)

    async def _flush(self, writer: asyncio.StreamWriter, pending: bytearray) -> None:
        if pending:
            self.flushes.append(len(pending))
            writer.write(bytes(pending))
            pending.clear()
            await writer.drain()


class Blackhole:
    """A loopback TCP port where connects hang (SYNs dropped: the accept queue is full).

    Listens with a backlog of 0 and fills the queue with one connection nobody accepts; later
    connects get no SYN-ACK, so clients hit their *connect* timeout. ``url`` is ``http://...``.
    """

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(0)
        self._listener = listener
        self.port = listener.getsockname()[1]
        # Fill the accept queue: connect until a connect no longer completes quickly.
        for _ in range(8):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.05)
            self._fillers.append(probe)
            try:
                probe.connect((self.host, self.port))
            except TimeoutError:
                return self
        self.stop()
        raise RuntimeError("could not fill the accept queue of the blackhole listener")

    def stop(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
