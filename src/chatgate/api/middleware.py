"""Pure ASGI middleware (never BaseHTTPMiddleware: it would sit in the path of every streamed token).

- `RequestContext`: a request id in logs and in `X-Request-ID`, one access-log line per request,
  security headers on every response.
- `BodyLimit`: refuses bodies over the limit with 413 before reading them.
- `CsrfGuard`: unsafe methods that carry the session cookie (or the trusted sign-in header)
  must come from our own origin.
- `RawPeer`: keeps the TCP peer's address before forwarded headers replace it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import orjson
import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatgate.errors import BodyTooLarge, ChatGateError, CsrfFailed
from chatgate.ids import new_id

log = structlog.get_logger("chatgate.access")
SESSION_COOKIE = "chatgate_session"
RAW_PEER_KEY = "chatgate.peer"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The web app needs inline styles (naive-ui, KaTeX) but never inline or eval'd script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; report-uri /api/csp-report"
)
COMMON_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
HTML_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def error_response_parts(error: ChatGateError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = orjson.dumps({"error": {"code": error.code, "message": error.message, **error.extra}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    return error.status, headers, body


async def send_error(send: Send, error: ChatGateError) -> None:
    status, headers, body = error_response_parts(error)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Scope keys RequestContext sets for streams (api/sse.py).
BODY_SEND = "chatgate.body_send"
STREAM_BODY = "chatgate.stream_body"
# The server's own `send`, kept by the application before Starlette's error middleware wraps it
# (app.py): a stream's body is thousands of messages sent after its response has started, and
# that wrapper (a coroutine per message) only needs to see whether the response has started.
SERVER_SEND = "chatgate.server_send"
# The rest of a stream after its headers, given the server's own send and receive.
StreamBody = Callable[[Send, Receive], Awaitable[None]]


def _forget_below(scope: Scope, entered: tuple[str, ...]) -> None:
    """Drop what the layers below added to a stream's scope once they have returned.

    The server's request cycle holds the scope until the stream ends, and with it the router's
    and FastAPI's leftovers: the route, its path parameters and three closed exit stacks, a few
    KB per stream for minutes, that nothing reads again.
    """
    keep = {*entered, BODY_SEND, STREAM_BODY}
    kept = {key: value for key, value in scope.items() if key in keep}
    # Cleared and filled again rather than deleted from: a dict never shrinks its table on
    # deletes, and the router's keys had doubled it (768 bytes held for 400 used).
    scope.clear()
    scope.update(kept)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get("x-request-id", "")[:64] or new_id()[-16:]
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(COMMON_HEADERS)
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    headers.extend(HTML_HEADERS)
                message["headers"] = headers
            await send(message)

        # Streams send their headers through every layer (which add theirs) and then leave the
        # rest of their body here (api/sse.py `hand_off`), to be written straight to the server
        # once the layers below have returned: nothing below changes a body, a token is
        # thousands of small sends, and each layer's frame would be held for the whole stream.
        stream_body: list[StreamBody] = []
        entered = tuple(scope)
        body_send: Send = scope.get(SERVER_SEND, send)
        scope[BODY_SEND] = body_send
        scope[STREAM_BODY] = stream_body
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            try:
                await self.app(scope, receive, send_with_headers)
            finally:
                # Even when a layer below failed on its way out: the stream has started, and
                # its body releases what it holds (a reader's place, an API answer to stop).
                if stream_body:
                    _forget_below(scope, entered)
                    await stream_body.pop()(body_send, receive)
        finally:
            # The server's send points back at its request cycle, which holds this scope: left
            # here, every request would be a reference cycle (with its exit stacks, events and
            # connection) waiting for a full garbage collection.
            del scope[BODY_SEND], scope[STREAM_BODY]
            client = scope.get("client")
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
                client=client[0] if client else None,
            )
            structlog.contextvars.unbind_contextvars("request_id")


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, *, overrides: Iterable[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Path prefixes that may receive larger bodies (imports).
        self.overrides = tuple(overrides)

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await send_error(send, BodyTooLarge(f"The request is larger than {limit // 1024} KiB."))
            return
        received = 0
        response_started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now: the app may turn the exception below into its own 400.
                    if not response_started and not refused:
                        refused = True
                        await send_error(
                            send, BodyTooLarge(f"The request is larger than {limit // 1024} KiB.")
                        )
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)


class _TooLarge(Exception):
    pass


class CsrfGuard:
    """Cookie-authenticated writes must be same-origin.

    Modern browsers send `Sec-Fetch-Site`; older ones send `Origin` on every cross-origin POST.
    Requests with neither (curl, API clients) cannot be forged by a web page.
    """

    def __init__(
        self, app: ASGIApp, *, public_origin: str | None = None, trusted_header: str | None = None
    ) -> None:
        self.app = app
        self.public_origin = _origin_of(public_origin) if public_origin else None
        # Behind an authenticating proxy the browser's proxy cookie signs every request in.
        self.trusted_header = trusted_header.lower() if trusted_header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            headers = Headers(scope=scope)
            signed_in = SESSION_COOKIE in headers.get("cookie", "") or (
                self.trusted_header is not None and self.trusted_header in headers
            )
            if signed_in and not self._same_origin(headers):
                await send_error(send, CsrfFailed())
                return
        await self.app(scope, receive, send)

    def _same_origin(self, headers: Headers) -> bool:
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        origin = headers.get("origin")
        if origin is None:
            return True
        if origin == "null":
            return False
        allowed = {headers.get("host", ""), headers.get("x-forwarded-host", "")}
        if self.public_origin:
            allowed.add(self.public_origin)
        return _origin_of(origin) in allowed - {""}


def _origin_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


class RawPeer:
    """Outermost: remembers the connection's own peer address, which the trusted sign-in header
    is judged by (ProxyHeadersMiddleware then replaces `client` with the forwarded address)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_PEER_KEY] = scope.get("client")
        await self.app(scope, receive, send)
