"""The upstream HTTP/1.1 client against loopback servers that send raw bytes the test controls:
every way HTTP/1.1 lets a server frame, encode, precede, redirect or drop an answer."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from chatgate.config import CredentialConfig, ProviderConfig
from chatgate.errors import UpstreamError
from chatgate.providers.client import build_client, post_and_read
from chatgate.providers.wire import UpstreamClient
from tests.fakes._server import (
    BufferedReader,
    HttpRequest,
    abort_with_rst,
    self_signed_cert,
    ssl_server_context,
)

Script = Callable[[BufferedReader, asyncio.StreamWriter], Awaitable[None]]
TEXT = "Hello 你好 🌍! The whole answer, byte for byte."
BODY = TEXT.encode()


class Upstream:
    """A server on the test's own loop. Each connection runs the script given for its number
    (the last script serves every later connection); requests are recorded as they arrive."""

    def __init__(self, *scripts: Script, host: str = "127.0.0.1", tls: bool = False) -> None:
        self.scripts = scripts
        self.host = host
        self.tls = tls
        self.connections = 0
        self.requests: list[HttpRequest] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/v1/chat/completions"

    async def __aenter__(self) -> Upstream:
        context = ssl_server_context() if self.tls else None
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=context)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            await script(_Recording(reader, self.requests), writer)
            await writer.drain()
        writer.close()


class _Recording(BufferedReader):
    def __init__(self, reader: asyncio.StreamReader, requests: list[HttpRequest]) -> None:
        super().__init__(reader)
        self.requests = requests

    async def read_request(self) -> HttpRequest | None:
        request = await super().read_request()
        if request is not None:
            self.requests.append(request)
        return request


def answer(*pieces: bytes, keep_alive: bool = False) -> Script:
    """Answer each request on the connection with `pieces`, written one by one; with keep_alive
    the connection then waits for the next request, else the server closes it."""

    async def script(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read_request() is not None:
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.005)  # separate packets: the body arrives in pieces
            if not keep_alive:
                return

    return script


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    upstream_client = UpstreamClient(proxy=None, connect_timeout=5)
    yield upstream_client
    await upstream_client.aclose()


async def fetch(client: UpstreamClient, url: str) -> tuple[int, bytes]:
    async with client.stream("POST", url, json={"q": 1}) as response:
        return response.status_code, await response.aread()


async def pumped(client: UpstreamClient, url: str) -> bytes:
    """The body as the adapters read it: pushed from the protocol callback."""
    pieces: list[bytes] = []
    async with client.stream("POST", url, json={"q": 1}) as response:
        await response.pump(pieces.append)
    return b"".join(pieces)


# -- framing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("read", [fetch, pumped], ids=["aread", "pump"])
@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n"],
    ids=["http11-close-delimited", "http10"],
)
async def test_a_body_ended_by_the_close_is_complete(
    client: UpstreamClient,
    head: bytes,
    read: Callable[[UpstreamClient, str], Awaitable[object]],
) -> None:
    async with Upstream(answer(head, BODY[:7], BODY[7:20], BODY[20:])) as upstream:
        result = await read(client, upstream.url)
        body = result[1] if isinstance(result, tuple) else result
        assert body == BODY
        # Not reused: the next request opens a new connection and is answered too.
        assert await read(client, upstream.url) == result
        assert upstream.connections == 2


async def test_a_close_delimited_body_cut_by_a_reset_is_an_error(
    client: UpstreamClient,
) -> None:
    async def reset(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
        await reader.read_request()
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + BODY[:5])
        await writer.drain()
        await asyncio.sleep(0.02)
        abort_with_rst(writer)

    async with Upstream(reset) as upstream:
        with pytest.raises(UpstreamError, match="broke off"):
            await fetch(client, upstream.url)


async def test_content_length_bodies_keep_the_connection(client: UpstreamClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    async with Upstream(answer(head, BODY[:9], BODY[9:], keep_alive=True)) as upstream:
        for _ in range(3):
            assert await fetch(client, upstream.url) == (200, BODY)
        assert await pumped(client, upstream.url) == BODY
        assert upstream.connections == 1 and len(upstream.requests) == 4


async def test_http10_with_a_length_is_complete_and_not_reused(client: UpstreamClient) -> None:
    head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    async with Upstream(answer(head, BODY, keep_alive=True)) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)
        assert await fetch(client, upstream.url) == (200, BODY)
        assert upstream.connections == 2


async def test_chunked_with_extensions_and_trailers(client: UpstreamClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
    first, second = BODY[:10], BODY[10:]
    pieces = (
        head,
        b'%x;name=value;quoted="a b"\r\n%s\r\n' % (len(first), first),
        b"%x;ext\r\n%s\r\n" % (len(second), second),
        b"0;last=1\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    )
    async with Upstream(answer(*pieces, keep_alive=True)) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)
        assert await pumped(client, upstream.url) == BODY
        assert upstream.connections == 1


@pytest.mark.parametrize(
    "pieces",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", BODY[:10]),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nHello\r\n"),
    ],
    ids=["content-length", "chunked"],
)
async def test_a_framed_body_cut_short_is_an_error(
    client: UpstreamClient, pieces: tuple[bytes, ...]
) -> None:
    async with Upstream(answer(*pieces)) as upstream:
        with pytest.raises(UpstreamError, match="broke off") as caught:
            await pumped(client, upstream.url)
        assert not caught.value.retryable


async def test_stray_bytes_after_a_complete_answer_keep_the_answer_not_the_connection(
    client: UpstreamClient,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    async with Upstream(answer(head + BODY + b"HTTP/1.1 200 OK\r\n\r\n", keep_alive=True)) as up:
        assert await fetch(client, up.url) == (200, BODY)
        assert await fetch(client, up.url) == (200, BODY)
        assert up.connections == 2


async def test_a_malformed_response_is_a_clear_error(client: UpstreamClient) -> None:
    async with Upstream(answer(b"HTTP/1.1 abc nonsense\r\n\r\n")) as upstream:
        with pytest.raises(UpstreamError, match="malformed"):
            await fetch(client, upstream.url)


# -- interim responses ----------------------------------------------------------------------
async def test_interim_responses_are_skipped(client: UpstreamClient) -> None:
    final = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Final: yes\r\n\r\n" % len(BODY)
    pieces = (
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        final,
        BODY,
    )
    async with Upstream(answer(*pieces, keep_alive=True)) as upstream:
        for _ in range(2):
            async with client.stream("POST", upstream.url, json={}) as response:
                assert response.status_code == 200
                assert response.headers.get("x-final") == "yes"
                assert "link" not in response.headers
                assert await response.aread() == BODY
        assert upstream.connections == 1


# -- content encodings ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("coding", "wbits"),
    [("gzip", 31), ("x-gzip", 31), ("deflate", zlib.MAX_WBITS), ("deflate", -zlib.MAX_WBITS)],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"],
)
async def test_an_unasked_encoding_is_decoded_as_it_streams(
    client: UpstreamClient, coding: str, wbits: int
) -> None:
    first, rest = b"data: first\n\n", b"data: " + BODY + b"\n\n" + b"data: [DONE]\n\n"
    compressor = zlib.compressobj(wbits=wbits)
    early = compressor.compress(first) + compressor.flush(zlib.Z_SYNC_FLUSH)
    late = compressor.compress(rest) + compressor.flush()
    got_first = asyncio.Event()

    async def script(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read_request()
        assert request is not None and request.headers["accept-encoding"] == "identity"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
            % coding.encode()
        )
        writer.write(b"%x\r\n%s\r\n" % (len(early), early))
        await writer.drain()
        await asyncio.wait_for(got_first.wait(), 5)  # tokens flow before the body ends
        writer.write(chunked(late[:3], late[3:]))

    pieces: list[bytes] = []

    def feed(data: bytes) -> None:
        pieces.append(data)
        if b"".join(pieces).startswith(first):
            got_first.set()

    async with Upstream(script) as upstream, client.stream("POST", upstream.url) as response:
        await response.pump(feed)
    assert b"".join(pieces) == first + rest


async def test_a_close_delimited_gzip_body_is_complete(client: UpstreamClient) -> None:
    head = b"HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n"
    body = gzip.compress(BODY)
    async with Upstream(answer(head, body[:5], body[5:])) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)


async def test_a_corrupt_compressed_body_says_so(client: UpstreamClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n"
    async with Upstream(answer(head, b"\x1f\x8b not gzip at all!")) as upstream:
        with pytest.raises(UpstreamError, match="compressed answer that could not be decoded"):
            await pumped(client, upstream.url)


async def test_an_encoding_it_cannot_decode_is_refused_with_a_message_that_says_so(
    client: UpstreamClient,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n"
    async with Upstream(answer(head, b"\x0b\x02\x80x")) as upstream:
        with pytest.raises(UpstreamError, match=r"compressed as 'br'.*did not ask for"):
            await fetch(client, upstream.url)


async def test_an_error_status_in_an_unknown_encoding_keeps_its_status(
    client: UpstreamClient,
) -> None:
    head = b"HTTP/1.1 401 Unauthorized\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n"
    async with Upstream(answer(head, b"\x0b\x02\x80x")) as upstream:
        assert await fetch(client, upstream.url) == (401, b"\x0b\x02\x80x")


# -- stale keep-alive connections -------------------------------------------------------------
def _ok() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


async def answer_one(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
    """Answer the connection's first request, keeping the connection open."""
    await reader.read_request()
    writer.write(_ok())
    await writer.drain()


async def test_a_connection_the_server_closed_while_idle_costs_nothing(
    client: UpstreamClient,
) -> None:
    closed = asyncio.Event()

    async def answer_once_then_close_idle(
        reader: BufferedReader, writer: asyncio.StreamWriter
    ) -> None:
        await answer_one(reader, writer)
        await asyncio.sleep(0.05)
        closed.set()  # idle timeout of the server: close without a word

    async with Upstream(answer_once_then_close_idle, answer(_ok())) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)
        await closed.wait()
        await asyncio.sleep(0.05)  # the client has seen the close
        assert await fetch(client, upstream.url) == (200, BODY)
        assert upstream.connections == 2 and len(upstream.requests) == 2


async def test_a_close_noticed_only_after_the_write_is_retried_once_on_a_fresh_connection(
    client: UpstreamClient,
) -> None:
    async def answer_once_then_drop_the_next(
        reader: BufferedReader, writer: asyncio.StreamWriter
    ) -> None:
        await answer_one(reader, writer)
        await reader.read_request()  # the write succeeded; the server closes with no answer

    async with Upstream(answer_once_then_drop_the_next, answer(_ok())) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)
        assert await fetch(client, upstream.url) == (200, BODY)
        assert upstream.connections == 2 and len(upstream.requests) == 3


async def test_a_reset_reused_connection_is_retried_too(client: UpstreamClient) -> None:
    async def answer_once_then_reset(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
        await answer_one(reader, writer)
        await reader.read_request()
        abort_with_rst(writer)

    async with Upstream(answer_once_then_reset, answer(_ok())) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)
        assert await fetch(client, upstream.url) == (200, BODY)
        assert upstream.connections == 2


async def test_no_retry_once_a_byte_of_the_response_arrived(client: UpstreamClient) -> None:
    async def answer_once_then_half_a_status_line(
        reader: BufferedReader, writer: asyncio.StreamWriter
    ) -> None:
        await answer_one(reader, writer)
        await reader.read_request()
        writer.write(b"HTTP/1.1 2")

    async with Upstream(answer_once_then_half_a_status_line, answer(_ok())) as upstream:
        assert await fetch(client, upstream.url) == (200, BODY)
        with pytest.raises(UpstreamError, match="broke off"):
            await fetch(client, upstream.url)
        assert upstream.connections == 1


async def test_a_fresh_connection_closed_without_an_answer_is_not_retried_here(
    client: UpstreamClient,
) -> None:
    async def drop(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
        await reader.read_request()

    async with Upstream(drop) as upstream:
        with pytest.raises(UpstreamError) as caught:
            await fetch(client, upstream.url)
        assert caught.value.retryable  # the generation service decides about retrying
        assert upstream.connections == 1


async def test_giving_up_while_waiting_closes_the_connection(client: UpstreamClient) -> None:
    closed = asyncio.Event()

    async def silent(reader: BufferedReader, writer: asyncio.StreamWriter) -> None:
        await reader.read_request()
        await reader.reader.read()  # until the client hangs up
        closed.set()

    async with Upstream(silent) as upstream:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(fetch(client, upstream.url), 0.1)
        await asyncio.wait_for(closed.wait(), 5)


# -- addresses and TLS ------------------------------------------------------------------------
def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_literals(client: UpstreamClient) -> None:
    async with Upstream(answer(_ok(), keep_alive=True), host="::1") as upstream:
        assert upstream.url.startswith("http://[::1]:")
        assert await fetch(client, upstream.url) == (200, BODY)
        assert upstream.requests[0].headers["host"] == f"[::1]:{upstream.port}"


async def test_the_host_header_and_identity_encoding(client: UpstreamClient) -> None:
    async with Upstream(answer(_ok())) as upstream:
        await fetch(client, upstream.url)
        request = upstream.requests[0]
        assert request.headers["host"] == f"127.0.0.1:{upstream.port}"
        assert request.headers["accept-encoding"] == "identity"
        assert request.path == "/v1/chat/completions" and request.body == b'{"q":1}'


async def test_tls_with_the_administrators_ca_bundle() -> None:
    cert, _ = self_signed_cert()
    trusting = build_client(proxy=None, connect_timeout=5, ca_bundle=cert)
    public_roots_only = UpstreamClient(proxy=None, connect_timeout=5)
    try:
        async with Upstream(answer(_ok(), keep_alive=True), tls=True) as upstream:
            url = upstream.url.replace("127.0.0.1", "localhost")
            assert await fetch(trusting, url) == (200, BODY)
            assert await fetch(trusting, upstream.url) == (200, BODY)  # IP address SAN
            with pytest.raises(UpstreamError, match="secure connection") as caught:
                await fetch(public_roots_only, url)
            assert "CERTIFICATE_VERIFY_FAILED" in (caught.value.detail or "")
    finally:
        await trusting.aclose()
        await public_roots_only.aclose()


async def test_a_close_delimited_body_over_tls_is_complete() -> None:
    cert, _ = self_signed_cert()
    client = UpstreamClient(proxy=None, connect_timeout=5, ca_bundle=cert)
    try:
        async with Upstream(answer(b"HTTP/1.0 200 OK\r\n\r\n", BODY), tls=True) as upstream:
            assert await fetch(client, upstream.url) == (200, BODY)
    finally:
        await client.aclose()


@pytest.mark.parametrize("content", [None, b"not a certificate\n"], ids=["missing", "not-pem"])
def test_an_unusable_ca_bundle_stops_the_startup_naming_it(
    tmp_path: Path, content: bytes | None
) -> None:
    bundle = tmp_path / "internal-ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    provider = {"name": "vllm", "kind": "openai", "base_url": "https://vllm.internal/v1"}
    with pytest.raises(ValidationError, match=r"internal-ca\.pem.* cannot be used"):
        ProviderConfig.model_validate({**provider, "ca_bundle": bundle})
    with pytest.raises(ValidationError, match=r"internal-ca\.pem.* cannot be used"):
        CredentialConfig.model_validate({"api_key": "k", "ca_bundle": str(bundle)})


# -- redirects ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_refused_naming_the_new_location(
    client: UpstreamClient, status: int
) -> None:
    location = b"https://user:pw@new.example:8443/api/v1/chat/completions?key=sk-secret#x"
    head = b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % (status, location)
    async with Upstream(answer(head)) as upstream:
        with pytest.raises(UpstreamError) as caught:
            await fetch(client, upstream.url)
    message = caught.value.message
    assert "https://new.example:8443/api/v1/chat/completions" in message
    assert "base URL" in message and f"HTTP {status}" in message
    for secret in ("sk-secret", "key=", "pw", "#x"):
        assert secret not in message and secret not in (caught.value.detail or "")
    assert len(upstream.requests) == 1  # not followed


async def test_a_relative_redirect_is_named_against_the_request_url(
    client: UpstreamClient,
) -> None:
    head = b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /v2/chat?token=abc\r\n\r\n"
    async with Upstream(answer(head)) as upstream:
        with pytest.raises(UpstreamError) as caught:
            await fetch(client, upstream.url)
    assert f"http://127.0.0.1:{upstream.port}/v2/chat " in caught.value.message
    assert "token" not in caught.value.message


async def test_an_upgrade_nobody_asked_for_is_a_plain_status_not_a_crash(
    client: UpstreamClient,
) -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    async with Upstream(answer(head, b"\x81\x05hello", keep_alive=True)) as upstream:
        assert await fetch(client, upstream.url) == (101, b"")
        assert await fetch(client, upstream.url) == (101, b"")
        assert upstream.connections == 2


# -- memory ------------------------------------------------------------------------------------
async def test_a_streaming_request_holds_nothing_of_its_body_while_the_answer_streams(
    client: UpstreamClient,
) -> None:
    """A stream lasts minutes and its request is the whole conversation: held per stream, the
    payload, its JSON and the bytes sent would be three copies of every conversation at once."""
    size = 3_000_000

    async def discard_then_stream(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while length:
            length -= len(await reader.read(min(length, 65536)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        for piece in (b"data: 1\n\n", b"data: 2\n\n"):
            await asyncio.sleep(0.05)
            writer.write(piece)
            await writer.drain()
        writer.close()

    class Reader:
        def __init__(self) -> None:
            self.held: list[int] = []

        def feed(self, data: bytes) -> None:
            self.held.append(tracemalloc.get_traced_memory()[0] - before)

        def close(self) -> None:
            pass

    server = await asyncio.start_server(discard_then_stream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        reader = Reader()
        await post_and_read(
            "test",
            client,
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x" * size}]},
            headers={},
            reader=reader,
        )
    finally:
        tracemalloc.stop()
        server.close()
        await server.wait_closed()
    assert reader.held and max(reader.held) < size / 3, reader.held


async def test_a_streaming_answer_holds_its_headers_once(client: UpstreamClient) -> None:
    """Hundreds of answers stream for minutes each: once the response has its headers, the
    connection lets go of the raw list and of the future that waited for them."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Request-Id: abc\r\n\r\n"
    async with (
        Upstream(answer(head, b"data: 1\n\n")) as upstream,
        client.stream("POST", upstream.url, json={"q": 1}) as response,
    ):
        assert response.headers["x-request-id"] == "abc"
        connection = response._connection
        assert (connection.headers, connection.headers_done) == ([], None)
        assert await response.aread() == b"data: 1\n\n"
