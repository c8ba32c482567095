"""The one contract every upstream adapter fulfils.

`stream_chat(request, credential)` yields `TextDelta`, `ReasoningDelta`, `Usage` and finally
`Finish`; failures are raised as `chatgate.errors.UpstreamError` subclasses (with `retryable` and
`retry_after` set), never returned as text. Adapters only translate wire formats: retries,
timeouts between tokens, queueing and storage belong to the services.

An adapter on the hot path may also offer `stream_into(request, credential, sink)`, which calls the
`StreamSink` straight from the network callback, one method call per token and no task switch;
`stream_chat` is then derived from it (`events_from_sink`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chatgate.config import ModelConfig, ProviderKind


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: ModelConfig
    messages: list[ChatMessage]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    # Continuation state from the nearest earlier answer by this provider (ChatGPT web ids).
    state: dict[str, Any] | None = None
    # The last message is a partial assistant answer to continue in place.
    continuation: bool = False


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(slots=True)
class Finish:
    reason: str | None = None  # stop | length | …
    state: dict[str, Any] | None = None


ProviderEvent = TextDelta | ReasoningDelta | Usage | Finish


class StreamSink(Protocol):
    """Receives an answer as it arrives, synchronously, from inside the network callback."""

    def text(self, text: str) -> None: ...

    def reasoning(self, text: str) -> None: ...

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None: ...

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None: ...


class _QueueSink:
    __slots__ = ("put",)

    def __init__(self, queue: asyncio.Queue[ProviderEvent | None]) -> None:
        self.put = queue.put_nowait

    def text(self, text: str) -> None:
        self.put(TextDelta(text))

    def reasoning(self, text: str) -> None:
        self.put(ReasoningDelta(text))

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.put(Usage(prompt_tokens, completion_tokens))

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None:
        self.put(Finish(reason, state))


async def events_from_sink(
    stream_into: Callable[[StreamSink], Awaitable[None]],
) -> AsyncGenerator[ProviderEvent, None]:
    """The events of a push-style adapter as an async iterator (for the less hot paths)."""
    queue: asyncio.Queue[ProviderEvent | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await stream_into(_QueueSink(queue))
        finally:
            queue.put_nowait(None)

    task = asyncio.ensure_future(run())
    try:
        while (event := await queue.get()) is not None:
            yield event
        await task  # raises what the adapter raised
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class CredentialState:
    """What the scheduler and the admin console know about one credential at run time."""

    in_flight: int = 0
    cooldown_until: float = 0.0  # loop time
    failing: bool = False
    last_error: str | None = None
    requests: int = 0


@dataclass
class Credential:
    """One key or access token of a provider, with its own pooled HTTP client."""

    provider: str
    name: str
    secret: str | None
    concurrency: int
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    client: Any = None  # httpx.AsyncClient, built by providers.http
    state: CredentialState = field(default_factory=CredentialState)

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.name}"


class Provider(Protocol):
    name: str
    kind: ProviderKind
    models: list[ModelConfig]
    credentials: list[Credential]

    def stream_chat(
        self, request: ChatRequest, credential: Credential
    ) -> AsyncGenerator[ProviderEvent, None]: ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
