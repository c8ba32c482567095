"""Anthropic Messages protocol: ``POST /v1/messages``, and ``GET /v1/models`` in Anthropic's
shape. ``max_tokens`` is required (400 ``invalid_request_error`` otherwise), as on the real API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from tests.fakes.upstream.protocol import Exchange, WireProtocol
from tests.fakes.upstream.records import Json
from tests.fakes.upstream.wire import sse_data

__all__ = ["ANTHROPIC", "AnthropicWire"]

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _block_problem(body: dict[str, Any]) -> str:
    """As Anthropic answers (400) a `tool_result` whose `tool_use` is not in the previous
    assistant turn, an image of another type, or a forced tool that is not among `tools`."""
    previous: set[str] = set()
    for number, message in enumerate(body["messages"]):
        content = message.get("content") if isinstance(message, dict) else None
        blocks = content if isinstance(content, list) else []
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "tool_result" and block.get("tool_use_id") not in previous:
                return (
                    f"messages.{number}.content: unexpected `tool_use_id` found in "
                    "`tool_result` blocks. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
            source = block.get("source") if kind == "image" else None
            inline = isinstance(source, dict) and source.get("type") == "base64"
            if inline and source.get("media_type") not in _IMAGE_TYPES:  # type: ignore[union-attr]
                return f"messages.{number}.content: invalid image media_type"
        previous = {
            str(block.get("id"))
            for block in blocks
            if isinstance(block, dict) and block.get("type") == "tool_use"
        }
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or () if isinstance(t, dict)}
        if choice.get("name") not in names:
            return "tool_choice.name: the named tool is not in tools"
    return ""


class AnthropicWire(WireProtocol):
    """Anthropic's Messages API."""

    name = "anthropic"
    _types: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }

    def error(self, status: int, kind: str) -> Json:
        etype = self._types.get(status, "api_error")
        message = kind or {
            401: "invalid x-api-key",
            429: "Number of request tokens has exceeded your per-minute rate limit",
            529: "Overloaded",
        }.get(status, "Internal server error")
        return {"type": "error", "error": {"type": etype, "message": message}}

    def check_messages(self, body: dict[str, Any], messages: list[Any]) -> str:
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        return _block_problem(body)

    def model_list(self, models: Sequence[str]) -> Json:
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for model in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }

    @staticmethod
    def _event(name: str, payload: Json) -> list[str]:
        return [f"event: {name}", sse_data(payload)]

    def start_events(self, ex: Exchange) -> list[list[str]]:
        message: dict[str, Any] = {
            "id": f"msg_{ex.id}",
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": ex.record.prompt_tokens, "output_tokens": 1},
        }
        return [
            self._event("message_start", {"type": "message_start", "message": message}),
            self._event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            self._event("ping", {"type": "ping"}),
        ]

    def token_event(self, ex: Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        payload = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": token},
            **extra,
        }
        return self._event("content_block_delta", payload)

    def stop_reason(self, ex: Exchange) -> str:
        return "max_tokens" if ex.finish_length else ("tool_use" if ex.calls else "end_turn")

    def tool_events(self, ex: Exchange) -> list[list[str]]:
        """One tool_use block per call, after the text block (index 0)."""
        events = []
        for number, call in enumerate(ex.calls, start=1):
            block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
            start = {"type": "content_block_start", "index": number, "content_block": block}
            events.append(self._event("content_block_start", start))
            for piece in ex.pieces(call["arguments"]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                payload = {"type": "content_block_delta", "index": number, "delta": delta}
                events.append(self._event("content_block_delta", payload))
            stop = {"type": "content_block_stop", "index": number}
            events.append(self._event("content_block_stop", stop))
        return events

    def end_events(self, ex: Exchange) -> list[list[str]]:
        return [
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            *self.tool_events(ex),
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason(ex), "stop_sequence": None},
                    "usage": {"output_tokens": len(ex.sent) + ex.call_tokens},
                },
            ),
        ]

    def done_event(self, ex: Exchange) -> list[str] | None:
        return self._event("message_stop", {"type": "message_stop"})

    def error_event(self, ex: Exchange) -> list[str]:
        return self._event("error", self.error(529, ""))

    def invalid_event(self, ex: Exchange) -> list[str]:
        return [
            "event: content_block_delta",
            'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_del',
        ]

    def complete(self, ex: Exchange) -> Json:
        return {
            "id": f"msg_{ex.id}",
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "content": [
                *(
                    [{"type": "text", "text": ex.text_so_far}]
                    if ex.text_so_far or not ex.calls
                    else []
                ),
                *(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["name"],
                        "input": orjson.loads(call["arguments"] or "{}"),
                    }
                    for call in ex.calls
                ),
            ],
            "stop_reason": self.stop_reason(ex),
            "stop_sequence": None,
            "usage": {
                "input_tokens": ex.record.prompt_tokens,
                "output_tokens": len(ex.sent) + ex.call_tokens,
            },
        }


ANTHROPIC = AnthropicWire()
