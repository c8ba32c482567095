"""Anthropic Messages API, streamed.

Sources (facts only):
* docs.anthropic.com "Streaming Messages": named events; ``message_start`` (a Message with empty
  ``content`` and the input usage), per block ``content_block_start`` / ``content_block_delta``
  / ``content_block_stop``, ``message_delta`` with ``stop_reason`` and cumulative
  ``usage.output_tokens``, ``message_stop``; any number of ``ping`` events; an ``error`` event
  such as ``overloaded_error`` may arrive mid-stream (HTTP 529 outside a stream).
* docs.anthropic.com "Building with extended thinking": ``thinking`` blocks stream
  ``thinking_delta`` pieces and one ``signature_delta`` just before ``content_block_stop``;
  ``redacted_thinking`` blocks carry only encrypted ``data``.
* docs.anthropic.com "Messages" reference / "Versions": ``POST /v1/messages`` with ``x-api-key``,
  ``anthropic-version: 2023-06-01``; ``max_tokens`` is required; the system prompt is a top-level
  ``system`` field (a ``system`` role inside ``messages`` is refused); errors are
  ``{"type": "error", "error": {"type": ..., "message": ...}}``.
* anthropic-sdk-python ``tests/lib/streaming`` (recorded event streams) for field order and the
  ``usage`` fields of ``message_start`` (cache counters, ``service_tier``).
"""

from __future__ import annotations

from tests.fakes.dialects import API_KEY, Refusal, Seen, Transcript, sse

MODEL = "claude-sonnet-4-5"


def _error(status: int, kind: str, message: str) -> Refusal:
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def messages_request(seen: Seen) -> Refusal | None:
    if seen.headers.get("x-api-key") != API_KEY:
        return _error(401, "authentication_error", "invalid x-api-key")
    if not seen.headers.get("anthropic-version"):
        return _error(400, "invalid_request_error", "anthropic-version: header is required")
    body = seen.body
    if not isinstance(body.get("max_tokens"), int):
        return _error(400, "invalid_request_error", "max_tokens: Field required")
    if body.get("stream") is not True:
        return _error(400, "invalid_request_error", "(conformance) this transcript is a stream")
    if body.get("model") != MODEL:
        return _error(404, "not_found_error", f"model: {body.get('model')}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(400, "invalid_request_error", "messages: at least one message is required")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            return _error(
                400,
                "invalid_request_error",
                f'messages.{index}.role: Input should be "user" or "assistant"',
            )
    return None


ANSWER = sse(r"""
event: message_start
data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":47,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":4,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"27 × 453: 27 × 400 = 10 800"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":", 27 × 53 = 1 431; sum 12 231."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds3eBvMhr4RW0rTfV8V0h7Bz9bO1g=="}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"27 × 453 = **12 231**."}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":" Vérifié ✓ — 验证完毕。"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":92}}

event: message_stop
data: {"type":"message_stop"}

""")

OVERLOADED = sse(r"""
event: message_start
data: {"type":"message_start","message":{"id":"msg_01Hq3c8Rk2VtY7mNdLx5PwZa","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Il était une fois"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" un château…"}}

event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

""")

_SOURCE = "docs.anthropic.com: streaming messages, extended thinking; anthropic-sdk tests"

TRANSCRIPTS = (
    Transcript(
        name="anthropic",
        source=_SOURCE,
        kind="anthropic",
        protocol="anthropic",
        body=ANSWER,
        text="27 × 453 = **12 231**. Vérifié ✓ — 验证完毕。",
        reasoning="27 × 453: 27 × 400 = 10 800, 27 × 53 = 1 431; sum 12 231.",
        usage=(47, 92),
        model=MODEL,
        base_path="",
        path="/v1/messages",
        checks=(messages_request,),
    ),
    Transcript(
        name="anthropic_overloaded",
        source=_SOURCE,
        kind="anthropic",
        protocol="anthropic",
        body=OVERLOADED,
        text="Il était une fois un château…",
        final="error",
        error_code="upstream_rate_limited",  # "busy, try again shortly", as 529 outside a stream
        finish=None,
        model=MODEL,
        base_path="",
        path="/v1/messages",
        checks=(messages_request,),
    ),
)
