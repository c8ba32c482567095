"""What every protocol module implements, and the state of one generation request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.fakes._server import HttpRequest
from tests.fakes.upstream.records import Json, RecordedRequest
from tests.fakes.upstream.scenarios import Scenario
from tests.fakes.upstream.wire import Connection

__all__ = ["Exchange", "WireProtocol"]


@dataclass
class Exchange:
    """One generation request: what was asked, what the scenario makes of it, what was sent."""

    conn: Connection
    request: HttpRequest
    record: RecordedRequest
    body: dict[str, Any]
    scenario: Scenario
    tokens: list[str]
    finish_length: bool
    model: str
    token_delay: float
    keep_alive: bool
    include_usage: bool = False
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    sent: list[str] = field(default_factory=list)
    user_message_id: str = ""
    reasoning: list[str] = field(default_factory=list)  # reasoning tokens sent (deepseek_reasoning)
    calls: list[dict[str, str]] = field(default_factory=list)  # tool_calls scenario
    piece: int = 5  # characters per streamed argument piece

    def pieces(self, arguments: str) -> list[str]:
        return [arguments[i : i + self.piece] for i in range(0, len(arguments), self.piece)]

    @property
    def call_tokens(self) -> int:
        """Completion tokens of the function calls: one per argument piece."""
        return sum(len(self.pieces(call["arguments"])) for call in self.calls)

    @property
    def text_so_far(self) -> str:
        return "".join(self.sent)


class WireProtocol:
    """One provider's wire format: its errors, request checks, stream events and whole replies."""

    name = ""
    stream_headers: ClassVar[list[tuple[str, str]]] = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
    ]

    def error(self, status: int, kind: str) -> Json:
        raise NotImplementedError

    def validate(self, body: Json) -> str:
        """What the service answers (400) to this request body; "" when it accepts it."""
        if not isinstance(body, dict):
            return "The request body is not valid JSON."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        return self.check_messages(body, messages)

    def check_messages(self, body: dict[str, Any], messages: list[Any]) -> str:
        return ""

    def model_list(self, models: Sequence[str]) -> Json:
        """``GET /v1/models`` in this service's shape."""
        raise NotImplementedError

    def start_events(self, ex: Exchange) -> list[list[str]]:
        return []

    def token_event(self, ex: Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def end_events(self, ex: Exchange) -> list[list[str]]:
        return []

    def done_event(self, ex: Exchange) -> list[str] | None:
        return ["data: [DONE]"]

    def error_event(self, ex: Exchange) -> list[str]:
        raise NotImplementedError

    def invalid_event(self, ex: Exchange) -> list[str]:
        return ['data: {"choices": [{"index": 0, "delta": {"content": "garbage']

    def empty_choices_event(self, ex: Exchange) -> list[str] | None:
        return None

    def complete(self, ex: Exchange) -> Json:
        raise NotImplementedError
