"""ChatGate's own Python per streamed token, without sockets: an upstream chunk's bytes fed to the
OpenAI-compatible reader, through the live generation, to the browser stream's framing and a
`send` that only counts. One event-loop turn per token, as when every token is its own packet.

    python -m bench.per_token            # µs of CPU per token, best of 3 rounds

What it leaves out is what the end-to-end benchmark adds on top: the socket reads and writes,
epoll, uvicorn's chunked framing, storage and the per-answer work.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import uvloop

from chatgate.api.sse import GenerationStream
from chatgate.providers.openai_compat import ChatCompletionsReader
from chatgate.services.live import LiveGeneration

TOKENS = 200_000
CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"w00001 "},"finish_reason":null}]}\n\n'
)


async def one_round(tokens: int) -> tuple[float, float]:
    """(µs of CPU per token through the path, µs per bare loop turn)."""
    loop = asyncio.get_running_loop()
    generation = LiveGeneration(
        id="bench",
        user_id="u",
        conversation_id="c",
        user_message_id="q",
        model="m",
        provider="p",
        clock=loop.time,
    )
    reader = ChatCompletionsReader("p", generation)
    sent = 0

    async def send(_message: Any) -> None:
        nonlocal sent
        sent += 1

    stream = GenerationStream(generation, after=0, on_open=lambda g: None, on_close=lambda g: None)
    writer = asyncio.ensure_future(stream._write(send))
    await asyncio.sleep(0)
    started = time.process_time()
    for _ in range(tokens):
        reader.feed(CHUNK)
        await asyncio.sleep(0)
    path = (time.process_time() - started) / tokens * 1e6
    writer.cancel()
    assert sent >= tokens, sent
    started = time.process_time()
    for _ in range(tokens):
        await asyncio.sleep(0)
    turn = (time.process_time() - started) / tokens * 1e6
    return path, turn


def main() -> None:
    rounds = [uvloop.run(one_round(TOKENS)) for _ in range(3)]
    path, turn = min(rounds)
    print(
        f"{path:.2f} µs of CPU per token (best of 3 × {TOKENS:,}); "
        f"a bare loop turn {turn:.2f} µs of it"
    )


if __name__ == "__main__":
    main()
