"""Server-sent events toward the browser — the only place they are encoded.

A pure ASGI response: headers that keep proxies from buffering (`X-Accel-Buffering: no`,
`Cache-Control: no-cache, no-transform`), one `id:`/`event:`/`data:` frame per event with UTF-8
JSON (not `\\uXXXX`-escaped), several pending events written at once when a reader falls behind,
a `: ping` comment when idle, and no compression. Leaving the stream (a closed tab) only detaches
this reader; the generation carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from chatgate.api.middleware import BODY_SEND, STREAM_BODY, StreamBody
from chatgate.services.live import TEXT_EVENTS, LiveGeneration

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
]
PING = b": ping\n\n"
_KIND_BYTES: dict[str, bytes] = {}


def frame(seq: int, kind: str, payload: Any) -> bytes:
    kind_bytes = _KIND_BYTES.get(kind)
    if kind_bytes is None:
        kind_bytes = _KIND_BYTES[kind] = kind.encode()
    data = orjson.dumps({"text": payload}) if kind in TEXT_EVENTS else orjson.dumps(payload)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind_bytes, data)


def frames(events: list[tuple[str, Any]], first_seq: int) -> bytes:
    return b"".join(frame(first_seq + i, kind, payload) for i, (kind, payload) in enumerate(events))


class _StreamResponse(Response):
    """A Response subclass so FastAPI passes it through untouched; it writes its own body."""

    media_type = "text/event-stream"

    def __init__(self) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = list(HEADERS)


async def hand_off(scope: Scope, receive: Receive, send: Send, body: StreamBody) -> None:
    """After the headers, the rest of a stream: `body(send, receive)`, with `send` the server's own.

    Under RequestContext the body runs there, once the route and the middleware inside it have
    returned: a stream lasts minutes, and the frames of every layer below (the router, FastAPI's
    dependency exit stacks, the CSRF and body-limit guards) would otherwise be held for all of it,
    for each of hundreds of streams. Without RequestContext (an app mounted bare) it runs here.
    """
    later: list[StreamBody] | None = scope.get(STREAM_BODY)
    if later is not None and not later:
        later.append(body)
        return
    await body(scope.get(BODY_SEND, send), receive)


async def write_until_gone(
    receive: Receive, send: Send, write: Callable[[Send], Awaitable[None]]
) -> None:
    """Run `write(send)` until it ends or the client disconnects, whichever comes first."""
    writer = asyncio.ensure_future(write(send))
    watcher = asyncio.ensure_future(_watch_disconnect(receive))
    try:
        await asyncio.wait((writer, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (writer, watcher):
            task.cancel()
        for task in (writer, watcher):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task


async def _watch_disconnect(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


class GenerationStream(_StreamResponse):
    """Follows one live generation from `after` (the last event id the client has)."""

    def __init__(
        self,
        generation: LiveGeneration,
        *,
        after: int,
        on_open: Callable[[LiveGeneration], None],
        on_close: Callable[[LiveGeneration], None],
    ) -> None:
        super().__init__()
        self.generation = generation
        # The log as it is now: a finished answer may let go of its text before this stream
        # starts, and `replays_from` was asked of this one.
        self.log = generation.log
        self.after = after
        self.on_open = on_open
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        self.on_open(self.generation)
        await hand_off(scope, receive, send, self._body)

    async def _body(self, send: Send, receive: Receive) -> None:
        try:
            await write_until_gone(receive, send, self._write)
        finally:
            self.on_close(self.generation)

    async def _write(self, send: Send) -> None:
        generation = self.generation
        log = self.log
        cursor = min(self.after, len(log))
        while True:
            end = len(log)
            if end > cursor:
                if end == cursor + 1:  # the usual case: one new piece since the last write
                    body = frame(end, log.kind(cursor), log.payload(cursor))
                else:
                    body = b"".join(
                        frame(seq + 1, log.kind(seq), log.payload(seq))
                        for seq in range(cursor, end)
                    )
                cursor = end
                await send({"type": "http.response.body", "body": body, "more_body": True})
                continue
            if generation.finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await generation.wait()
            if len(log) == cursor and not generation.finished:
                await send({"type": "http.response.body", "body": PING, "more_body": True})


class StoredAnswerStream(_StreamResponse):
    """A generation no longer in memory: the stored answer as one `reset`, its `usage` when
    counted, then `done`."""

    def __init__(
        self,
        text: str,
        status: str,
        error: dict[str, str] | None,
        *,
        after: int,
        reasoning: str = "",
        usage: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        reset = {"text": text, "reasoning": reasoning} if reasoning else {"text": text}
        events: list[tuple[str, Any]] = [("reset", reset)]
        if usage:
            events.append(("usage", usage))
        if error:
            events.append(("error", error))
        events.append(("done", {"status": status}))
        # Ids continue past what the client has, so a later Last-Event-ID stays meaningful.
        self.body = frames(events, after + 1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class SelfTestStream(_StreamResponse):
    """`count` small events `interval` seconds apart, each stamped with the server's clock: the
    browser checks they arrive spread out, not in one lump (a buffering proxy)."""

    def __init__(self, *, count: int = 20, interval: float = 0.1) -> None:
        super().__init__()
        self.count = count
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import time

        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        for n in range(1, self.count + 1):
            payload = {"n": n, "of": self.count, "sent_at": round(time.time() * 1000)}
            await send(
                {"type": "http.response.body", "body": frame(n, "tick", payload), "more_body": True}
            )
            await asyncio.sleep(self.interval)
        await send(
            {
                "type": "http.response.body",
                "body": frame(self.count + 1, "done", {}),
                "more_body": False,
            }
        )


class _ProducedStream(_StreamResponse):
    """Writes what a producer yields until the client leaves; then closes the producer, so what
    it holds (a Redis read, a temporary provider) is let go at once."""

    def __init__(self, producer: AsyncIterator[Any]) -> None:
        super().__init__()
        self.producer = producer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await hand_off(scope, receive, send, self._body)

    async def _body(self, send: Send, receive: Receive) -> None:
        try:
            await write_until_gone(receive, send, self._write)
        finally:
            closer = getattr(self.producer, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def _write(self, send: Send) -> None:
        raise NotImplementedError


class RemoteGenerationStream(_ProducedStream):
    """Follows a generation that another instance is running, through its Redis stream."""

    def __init__(self, batches: AsyncIterator[list[tuple[int, str, Any]]]) -> None:
        super().__init__(batches)
        self.batches = batches

    async def _write(self, send: Send) -> None:
        async for batch in self.batches:
            body = (
                b"".join(frame(seq, kind, payload) for seq, kind, payload in batch)
                if batch
                else PING
            )
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class EventStream(_ProducedStream):
    """Events as a service produces them (the admin console's connection test)."""

    def __init__(self, events: AsyncIterator[tuple[str, Any]]) -> None:
        super().__init__(events)
        self.events = events

    async def _write(self, send: Send) -> None:
        seq = 0
        async for kind, payload in self.events:
            seq += 1
            await send(
                {"type": "http.response.body", "body": frame(seq, kind, payload), "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
