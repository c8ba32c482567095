"""The one contract every upstream adapter fulfils: it pushes the answer into a sink.

`await provider.stream(request, credential, sink)` sends the request and calls the `StreamSink` as
bytes arrive — `text`, `reasoning`, `usage`, and `finish` once — straight from the network
callback (one method call per token, no queue, no task switch); the local model calls it from its
worker thread through the event loop. It returns when the answer is complete and raises
`chatgate.errors.UpstreamError` subclasses (with `retryable` and `retry_after` set) on failure,
never text. The live generation is the sink. Adapters only translate wire formats; each keeps its
parsing in a socket-free reader (`feed(bytes)`, `close()`) so it can be specified byte by byte.
Retries, timeouts between tokens, queueing and storage belong to the services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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


class StreamSink(Protocol):
    """Receives an answer as it arrives, synchronously, from inside the network callback.

    `reasoning` carries a reasoning model's thoughts (DeepSeek `reasoning_content`, OpenRouter
    `reasoning`, Anthropic `thinking`): kept apart from the answer, never sent back upstream.
    """

    def text(self, text: str) -> None: ...

    def reasoning(self, text: str) -> None: ...

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None: ...

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None: ...


@dataclass
class CredentialState:
    """What the scheduler and the admin console know about one credential at run time."""

    in_flight: int = 0
    cooldown_until: float = 0.0  # loop time: until then it is skipped (429, or a rest)
    resting: bool = False  # refused (401/402/403): on probation until one success heals it
    rests: int = 0  # refusals in a row; each rest is twice the last
    last_error: str | None = None  # redacted
    last_error_at: datetime | None = None
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
    client: Any = None  # a chatgate.providers.wire.UpstreamClient, built by providers.http
    state: CredentialState = field(default_factory=CredentialState)

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.name}"


class Provider(Protocol):
    name: str
    kind: ProviderKind
    models: list[ModelConfig]
    credentials: list[Credential]

    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        """Produce one answer into `sink`; return when it is complete."""
        ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
