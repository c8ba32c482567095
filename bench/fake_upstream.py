"""A lean OpenAI-compatible upstream for load tests: cheap at 600+ concurrent streams.

Raw asyncio protocol (uvloop) with httptools' C request parser. Every stream sends its tokens
on absolute deadlines (`t0 + ttft + (i - 1) / rate`, never chained sleeps); one timer serves all
streams, and each stream gets a single write per tick with whatever is due. The monotonic send
time of every token is recorded under the run marker found in the last user message and served
at `GET /_timings` (`?clear=1` empties the store; `?done=1` takes only the finished answers).

Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (`stream` true or false; usage when
`stream_options.include_usage` is set, as OpenAI does), `GET /_timings`, `GET /_stats`.

Run: `python -m bench.fake_upstream --port 0` prints `LISTENING <port>` once it accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import itertools
import sys
import time
from array import array
from typing import Any, cast

import httptools
import orjson

from bench.protocol import Shape, parse_prompt

# Send a token up to this early rather than spin on a sub-millisecond timer (libuv's timers have
# millisecond resolution); the recorded send time is always the real one.
SLACK = 0.0005
CREATED = 1_700_000_000
_STREAM_HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: str, body: bytes, *, keep_alive: bool) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: %s\r\n\r\n%s" % (status.encode(), len(body), connection, body)
    )


def _last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
    return ""


class Stream:
    """One streamed answer in progress."""

    __slots__ = (
        "base",
        "closed",
        "conn",
        "head",
        "interval",
        "next_at",
        "next_seq",
        "record",
        "shape",
        "tail",
        "usage",
    )

    def __init__(
        self, conn: Connection, shape: Shape, model: str, usage: bool, record: array[int] | None
    ) -> None:
        self.conn = conn
        self.shape = shape
        self.usage = usage
        self.record = record
        self.interval = 1.0 / shape.rate if shape.rate > 0 else 0.0
        # Token i is due at base + i * interval: absolute deadlines, no drift.
        self.base = time.monotonic() + shape.ttft - self.interval
        self.next_seq = 1
        self.next_at = self.base + self.interval
        self.closed = False
        prefix = (
            b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,'
            b'"model":"%s","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":"'
            % (CREATED, model.encode())
        )
        suffix = b'"},"logprobs":null,"finish_reason":null}]}\n\n'
        size = len(prefix) + 7 + len(suffix)
        self.head = b"%x\r\n%s" % (size, prefix)
        self.tail = suffix + b"\r\n"

    def send_due(self, limit: float) -> bool:
        """Write every token due by `limit` in one write; True when the stream has finished."""
        seq = first = self.next_seq
        last = self.shape.tokens
        head, tail, base, interval = self.head, self.tail, self.base, self.interval
        parts = [self._role_chunk()] if seq == 1 else []
        at = self.next_at
        while seq <= last and at <= limit:
            parts.append(head + b"w%05d " % seq + tail)
            seq += 1
            at = base + seq * interval
        finished = seq > last
        if finished:
            parts.append(self._ending())
        self.next_seq, self.next_at = seq, at
        if self.record is not None and seq > first:
            # Stamped just before the write: the client may read the bytes before we return.
            self.record.extend(itertools.repeat(time.monotonic_ns(), seq - first))
        transport = self.conn.transport
        if transport is not None:
            transport.write(b"".join(parts))
        return finished

    def _role_chunk(self) -> bytes:
        return _chunked(
            b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,'
            b'"model":"bench","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
            b'"finish_reason":null}]}\n\n' % CREATED
        )

    def _ending(self) -> bytes:
        parts = [
            _chunked(
                b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,'
                b'"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
                % CREATED
            )
        ]
        if self.usage:
            usage = orjson.dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": "bench",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 10,
                        "completion_tokens": self.shape.tokens,
                        "total_tokens": 10 + self.shape.tokens,
                    },
                }
            )
            parts.append(_chunked(b"data: %s\n\n" % usage))
        parts.append(_chunked(b"data: [DONE]\n\n"))
        parts.append(b"0\r\n\r\n")
        return b"".join(parts)


class Scheduler:
    """One timer for all streams: a heap of (next deadline, tiebreak, stream)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.heap: list[tuple[float, int, Stream]] = []
        self.counter = itertools.count()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = float("inf")
        self.active = 0
        self.served = 0

    def add(self, stream: Stream) -> None:
        self.active += 1
        self._push(stream)

    def _push(self, stream: Stream) -> None:
        at = stream.next_at
        heapq.heappush(self.heap, (at, next(self.counter), stream))
        if at < self.timer_at:
            self._arm(at)

    def _arm(self, at: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = at
        self.timer = self.loop.call_later(max(0.0, at - time.monotonic()), self._tick)

    def _tick(self) -> None:
        self.timer = None
        self.timer_at = float("inf")
        limit = time.monotonic() + SLACK
        heap = self.heap
        due: list[Stream] = []
        while heap and heap[0][0] <= limit:
            due.append(heapq.heappop(heap)[2])
        for stream in due:
            if stream.closed:
                self.active -= 1
                continue
            if stream.send_due(limit):
                self.active -= 1
                self.served += 1
                stream.conn.stream_finished()
            else:
                heapq.heappush(heap, (stream.next_at, next(self.counter), stream))
        if heap:
            self._arm(heap[0][0])


class Store:
    """Timings by run marker: [request received ns, token 1 sent ns, token 2 sent ns, …]."""

    def __init__(self) -> None:
        self.records: dict[str, array[int]] = {}
        self.tokens: dict[str, int] = {}  # how many tokens each answer will have

    def open(self, marker: str | None, received_ns: int, tokens: int = 0) -> array[int] | None:
        if marker is None:
            return None
        record = array("q", [received_ns])
        self.records[marker] = record
        self.tokens[marker] = tokens
        return record

    def dump(self, clear: bool) -> bytes:
        body = orjson.dumps({key: value.tolist() for key, value in self.records.items()})
        if clear:
            self.records, self.tokens = {}, {}
        return body

    def take_done(self) -> bytes:
        """Hand over and forget the finished answers only (`?done=1`): a soak fetches as it
        goes, and clearing everything would cut the answers still streaming."""
        done = [key for key, value in self.records.items() if len(value) > self.tokens[key]]
        body = orjson.dumps({key: self.records[key].tolist() for key in done})
        for key in done:
            del self.records[key], self.tokens[key]
        return body


class Connection(asyncio.Protocol):
    def __init__(self, server: FakeUpstream) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.stream: Stream | None = None
        self.keep_alive = True

    # -- asyncio ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(_response("400 Bad Request", b'{"error":"bad request"}', keep_alive=False))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.stream is not None:
            self.stream.closed = True

    # -- httptools callbacks -----------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        received_ns = time.monotonic_ns()
        self.keep_alive = self.parser.should_keep_alive()
        method = self.parser.get_method()
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        self.server.route(self, method, url, body, received_ns)

    # -- writing ----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _send(self, data: bytes) -> None:
        self.write(data)

    def respond(self, status: str, body: bytes) -> None:
        self._send(_response(status, body, keep_alive=self.keep_alive))
        if not self.keep_alive:
            self.close()

    def stream_finished(self) -> None:
        self.stream = None
        if not self.keep_alive:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class FakeUpstream:
    def __init__(self, default: Shape, loop: asyncio.AbstractEventLoop) -> None:
        self.default = default
        self.scheduler = Scheduler(loop)
        self.store = Store()
        self.loop = loop

    def route(
        self, conn: Connection, method: bytes, url: bytes, body: bytes, received_ns: int
    ) -> None:
        path, _, query = url.partition(b"?")
        if method == b"POST" and path.endswith(b"/chat/completions"):
            self.chat(conn, body, received_ns)
        elif method == b"GET" and path.endswith(b"/models"):
            conn.respond(
                "200 OK",
                orjson.dumps(
                    {"object": "list", "data": [{"id": "bench-model", "object": "model"}]}
                ),
            )
        elif method == b"GET" and path == b"/_timings":
            if b"done=1" in query:
                conn.respond("200 OK", self.store.take_done())
            else:
                conn.respond("200 OK", self.store.dump(clear=b"clear=1" in query))
        elif method == b"GET" and path == b"/_stats":
            stats = {"active": self.scheduler.active, "served": self.scheduler.served}
            conn.respond("200 OK", orjson.dumps(stats))
        else:
            conn.respond("404 Not Found", b'{"error":{"message":"not found"}}')

    def chat(self, conn: Connection, body: bytes, received_ns: int) -> None:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            conn.respond("400 Bad Request", b'{"error":{"message":"invalid JSON"}}')
            return
        if not isinstance(request, dict):
            conn.respond("400 Bad Request", b'{"error":{"message":"expected an object"}}')
            return
        marker, shape = parse_prompt(_last_user_text(request.get("messages")), self.default)
        model = str(request.get("model") or "bench-model")
        record = self.store.open(marker, received_ns, shape.tokens)
        if not request.get("stream"):
            self.loop.call_later(shape.duration, self._complete, conn, shape, model, record)
            return
        options = request.get("stream_options")
        usage = isinstance(options, dict) and bool(options.get("include_usage"))
        stream = Stream(conn, shape, model, usage, record)
        conn.stream = stream
        conn.write(_STREAM_HEADERS)
        self.scheduler.add(stream)

    def _complete(
        self, conn: Connection, shape: Shape, model: str, record: array[int] | None
    ) -> None:
        text = "".join(f"w{i:05d} " for i in range(1, shape.tokens + 1))
        body = orjson.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": shape.tokens,
                    "total_tokens": 10 + shape.tokens,
                },
            }
        )
        conn.respond("200 OK", body)
        if record is not None:
            record.extend(itertools.repeat(time.monotonic_ns(), shape.tokens))


async def start(host: str, port: int, default: Shape) -> tuple[asyncio.Server, int]:
    """Listen in the running event loop (the driver's, or a process of its own)."""
    loop = asyncio.get_running_loop()
    fake = FakeUpstream(default, loop)
    server = await loop.create_server(lambda: Connection(fake), host, port, backlog=4096)
    return server, int(server.sockets[0].getsockname()[1])


async def serve(host: str, port: int, default: Shape) -> None:
    server, bound = await start(host, port, default)
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 50, 100)
    sys.stdout.write(f"LISTENING {bound}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second")
    parser.add_argument("--ttft", type=float, default=0.2, help="seconds to the first token")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.host, args.port, Shape(args.tokens, args.rate, args.ttft)))


if __name__ == "__main__":
    main()
