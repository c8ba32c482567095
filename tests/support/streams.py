"""Reading ChatGate's event streams in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from tests.fakes.sse import SseEvent, SseParser, parse_sse

__all__ = ["SseEvent", "SseParser", "answer_text", "data", "events_of", "iter_events", "kinds"]


def events_of(response: httpx.Response) -> list[SseEvent]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.content)


def data(event: SseEvent) -> Any:
    return orjson.loads(event.data)


def answer_text(events: list[SseEvent]) -> str:
    text = ""
    for event in events:
        if event.event == "reset":
            text = data(event)["text"]
        elif event.event == "delta":
            text += data(event)["text"]
    return text


def reasoning_text(events: list[SseEvent]) -> str:
    """The reasoning as the web app builds it: a `reset` that carries reasoning replaces it."""
    text = ""
    for event in events:
        if event.event == "reset" and isinstance(data(event).get("reasoning"), str):
            text = data(event)["reasoning"]
        elif event.event == "reasoning":
            text += data(event)["text"]
    return text


def kinds(events: list[SseEvent]) -> list[str]:
    return [e.event for e in events]


async def iter_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    parser = SseParser()
    async for chunk in response.aiter_bytes():
        for event in parser.feed(chunk):
            yield event
