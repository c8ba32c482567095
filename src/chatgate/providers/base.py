"""The one contract every upstream adapter fulfils: it pushes the answer into a sink.

`await provider.stream(request, credential, sink)` sends the request and calls the `StreamSink` as
bytes arrive — `text`, `reasoning`, `tool_call` pieces, `usage`, and `finish` once — straight from the network
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
from chatgate.providers.surface import NO_OPTIONS, ImagePart, Options, ToolCall


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant | tool (tool only from /v1)
    content: str  # the text (of every text part)
    # From /v1 only (the web chat sends role and text): the content as typed parts in order —
    # text pieces and images — when it had an image; the calls an assistant turn made; which
    # call a `tool` message answers.
    parts: tuple[str | ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @property
    def structured(self) -> bool:
        return bool(self.parts or self.tool_calls) or self.tool_call_id is not None


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
    # /v1's tools, structured output and sampling extras (see providers.surface).
    options: Options = NO_OPTIONS


class StreamSink(Protocol):
    """Receives an answer as it arrives, synchronously, from inside the network callback.

    `reasoning` carries a reasoning model's thoughts (DeepSeek `reasoning_content`, OpenRouter
    `reasoning`, Anthropic `thinking`): kept apart from the answer, never sent back upstream.
    `tool_call` carries one piece of a function call as OpenAI streams it: the first piece of
    call `index` has its `id` and `name` (arguments often ""), later ones only argument text; the
    answer then finishes with reason "tool_calls".
    """

    def text(self, text: str) -> None: ...

    def reasoning(self, text: str) -> None: ...

    def tool_call(self, index: int, id: str | None, name: str | None, arguments: str) -> None: ...

    def choice(self, index: int, text: str | None, finish: str | None) -> None:
        """With `n` > 1: a piece of text of choice `index` (1…n-1), or its finish reason.
        Choice 0 is the answer itself (`text`, `finish`)."""
        ...

    def logprobs(self, content: list[Any]) -> None:
        """The log-probabilities of the text just given to `text` (OpenAI's `logprobs.content`
        entries), when the request asked for them."""
        ...

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
    client: Any = None  # a chatgate.providers.wire.UpstreamClient, built by providers.client
    state: CredentialState = field(default_factory=CredentialState)

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.name}"


class Provider(Protocol):
    name: str
    kind: ProviderKind
    surface: frozenset[str]  # what of the OpenAI surface it carries (providers.surface)
    models: list[ModelConfig]
    credentials: list[Credential]

    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        """Produce one answer into `sink`; return when it is complete."""
        ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
