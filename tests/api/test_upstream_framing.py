"""However the upstream frames its answer — ended by closing the connection, as HTTP/1.0, or with
a Content-Length — the answer ends `complete` with the exact text; and an idle kept-alive
connection the upstream closed costs no failed answer (with no retry left to hide one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from tests.conftest import Harness
from tests.fakes._server import BufferedReader, ThreadedServer
from tests.support.streams import answer_text, data, events_of

REPLY = "Framed 你好 🌍 answers, whole: `code` and **bold**."
TOKENS = ["Framed ", "你好 ", "🌍 answers", ", whole: ", "`code` and ", "**bold**."]
IDLE_SECONDS = 0.1


def _sse() -> bytes:
    chunks: list[dict[str, Any]] = [{"delta": {"role": "assistant", "content": ""}}]
    chunks += [{"delta": {"content": token}} for token in TOKENS]
    chunks.append({"delta": {}, "finish_reason": "stop"})
    lines = [
        b"data: " + orjson.dumps({"object": "chat.completion.chunk", "choices": [choice]})
        for choice in chunks
    ]
    return b"\n\n".join([*lines, b"data: [DONE]"]) + b"\n\n"


class FramingUpstream(ThreadedServer):
    """An OpenAI-compatible upstream that writes its answer's HTTP framing by hand."""

    def __init__(self, framing: str) -> None:
        super().__init__()
        self.framing = framing
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await BufferedReader(reader).read_request()
        if request is None:
            return
        if request.path != "/v1/chat/completions":
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        self.requests += 1
        body = _sse()
        head = {
            "close-delimited": b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
            "http10": b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
        }.get(self.framing)
        if head is None:  # Content-Length, kept alive until the server's idle timeout
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n"
            )
            head %= len(body)
        writer.write(head)
        # Packets cut inside JSON and inside multi-byte characters.
        for start in range(0, len(body), 37):
            writer.write(body[start : start + 37])
            await writer.drain()
            await asyncio.sleep(0.002)
        if self.framing == "content-length":
            await asyncio.sleep(IDLE_SECONDS)  # then close the idle connection without a word


@pytest.fixture(params=["close-delimited", "http10", "content-length"])
def framing_upstream(request: pytest.FixtureRequest) -> Iterator[FramingUpstream]:
    with FramingUpstream(request.param) as upstream:
        yield upstream


async def _ask(client: Any, cid: str) -> tuple[list[Any], dict[str, Any]]:
    events = events_of(
        await client.post(
            f"/api/conversations/{cid}/messages", json={"content": "hi", "model": "framed"}
        )
    )
    stored = (await client.get(f"/api/conversations/{cid}/messages")).json()["messages"][-1]
    return events, stored


async def test_every_framing_ends_complete_with_the_exact_text(
    make_harness: Callable[..., Any], framing_upstream: FramingUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=[
            {
                "name": "framed",
                "kind": "openai",
                "base_url": f"http://{framing_upstream.netloc}/v1",
                "models": ["framed"],
                "credentials": [{"api_key": "sk-framing-test-000000"}],
            }
        ],
        default_model="framed",
        upstream_retries=0,  # a failed first attempt would show, not be retried away
    )
    client = await harness.user("alice")
    cid = (await client.post("/api/conversations", json={})).json()["id"]
    for turn in range(2):
        if turn:
            await asyncio.sleep(IDLE_SECONDS * 2)  # a kept-alive connection was closed meanwhile
        events, stored = await _ask(client, cid)
        assert data(events[-1]) == {"status": "complete"}, events[-3:]
        assert answer_text(events) == REPLY
        assert stored["status"] == "complete" and stored["content"] == REPLY
    assert framing_upstream.requests == 2
