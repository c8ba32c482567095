"""Function calls on the wire, byte by byte: the readers turn streamed tool calls into sink
pieces, and the adapters write tools, tool calls, tool results and images as each API spells
them. The byte streams follow the shapes recorded in the public references: OpenAI's chunks
(openai-python's streaming fixtures: a first piece with index, id, type, name and empty
arguments, then pieces with only the index and argument text, `finish_reason: "tool_calls"`),
and Anthropic's Messages events (`content_block_start` with a `tool_use` block and `input: {}`,
`input_json_delta` pieces of `partial_json` — the first one often empty — `content_block_stop`,
`stop_reason: "tool_use"`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import BadRequest
from chatgate.providers import surface
from chatgate.providers.anthropic import Anthropic, MessagesReader
from chatgate.providers.azure import AzureOpenAI
from chatgate.providers.base import ChatMessage, ChatRequest
from chatgate.providers.chatgpt_web import ChatGPTWeb
from chatgate.providers.gemini import Gemini
from chatgate.providers.local_llama import LocalLlama
from chatgate.providers.mistral import Mistral
from chatgate.providers.openai_compat import ChatCompletionsReader, OpenAICompatible
from chatgate.providers.surface import ImagePart, Options, ResponseFormat, Tool, ToolCall
from tests.providers.test_adapters import Recording


def _sse(*payloads: Any, names: bool = False) -> bytes:
    out = b""
    for payload in payloads:
        if isinstance(payload, str):
            out += f"data: {payload}\n\n".encode()
            continue
        if names:
            out += f"event: {payload['type']}\n".encode()
        out += b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
    return out


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf",
        "object": "chat.completion.chunk",
        "created": 1745678496,
        "model": "gpt-4.1-nano-2025-04-14",
        "system_fingerprint": "fp_eede8f0d45",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def _piece(index: int, arguments: str) -> dict[str, Any]:
    return _chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def _first(index: int, call_id: str, name: str) -> dict[str, Any]:
    call = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"arguments": "", "name": name},
    }
    return _chunk({"tool_calls": [call]})


OPENAI_TWO_CALLS = _sse(
    _chunk({"role": "assistant", "content": None, "refusal": None, "tool_calls": None}),
    _first(0, "call_PieqNSej6kM9hgYbcQdbZSaC", "get_weather"),
    _piece(0, '{"lo'),
    _piece(0, 'cation": "Pa'),
    _piece(0, 'ris, 巴黎"}'),
    _first(1, "call_7xLkT2", "get_time"),
    _piece(1, '{"zone": '),
    _piece(1, '"CET"}'),
    _chunk({}, "tool_calls"),
    {
        "id": "chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf",
        "object": "chat.completion.chunk",
        "created": 1745678496,
        "model": "gpt-4.1-nano-2025-04-14",
        "choices": [],
        "usage": {"prompt_tokens": 81, "completion_tokens": 41, "total_tokens": 122},
    },
    "[DONE]",
)
EXPECTED_CALLS = [
    ("call_PieqNSej6kM9hgYbcQdbZSaC", "get_weather", '{"location": "Paris, 巴黎"}'),
    ("call_7xLkT2", "get_time", '{"zone": "CET"}'),
]


def _whole(sink: Recording) -> list[tuple[str, str, str]]:
    calls: dict[int, list[str]] = {}
    for index, call_id, name, arguments in sink.calls:
        entry = calls.setdefault(index, ["", "", ""])
        entry[0] = call_id or entry[0]
        entry[1] = name or entry[1]
        entry[2] += arguments
    return [(c[0], c[1], c[2]) for _, c in sorted(calls.items())]


def _splits(data: bytes) -> list[list[bytes]]:
    """Whole, one byte at a time, and cut in two at every offset."""
    cuts = [[data], [data[i : i + 1] for i in range(len(data))]]
    cuts += [[data[:i], data[i:]] for i in range(1, len(data))]
    return cuts


def _read_at_every_split(data: bytes, reader_for: Callable[[Recording], Any]) -> list[Recording]:
    """What a reader told its sink, for each way of cutting `data` (see `_splits`)."""
    sinks = []
    for pieces in _splits(data):
        sink = Recording()
        reader = reader_for(sink)
        for piece in pieces:
            reader.feed(piece)
        reader.close()
        sinks.append(sink)
    return sinks


def test_openai_streamed_tool_calls_become_pieces_at_any_split() -> None:
    for sink in _read_at_every_split(
        OPENAI_TWO_CALLS, lambda sink: ChatCompletionsReader("svc", sink)
    ):
        assert _whole(sink) == EXPECTED_CALLS
        assert sink.calls[0] == (0, "call_PieqNSej6kM9hgYbcQdbZSaC", "get_weather", "")
        assert all(c[1] is None and c[2] is None for c in sink.calls if c[3])
        assert sink.texts == [] and sink.finishes == [("tool_calls", None)]
        assert sink.usages == [(81, 41)]


def test_a_call_sent_whole_without_an_index_is_read_in_order() -> None:
    # Gemini's OpenAI-compatible endpoint sends each call whole, in one chunk.
    calls = [
        {"id": "", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
        {"id": "", "type": "function", "function": {"name": "b", "arguments": "{}"}},
    ]
    data = _sse(_chunk({"role": "assistant", "tool_calls": calls}, "tool_calls"), "[DONE]")
    sink = Recording()
    reader = ChatCompletionsReader("svc", sink)
    reader.feed(data)
    reader.close()
    assert sink.calls == [(0, None, "a", '{"x":1}'), (1, None, "b", "{}")]


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def _anthropic(blocks: list[dict[str, Any]], stop: str) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 472, "output_tokens": 2},
    }
    events = [_event("message_start", message=message)]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            events.append(_event("content_block_start", index=index, content_block=start))
            delta = {"type": "text_delta", "text": block["text"]}
            events.append(_event("content_block_delta", index=index, delta=delta))
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            events.append(_event("content_block_start", index=index, content_block=start))
            for part in block["pieces"]:
                delta = {"type": "input_json_delta", "partial_json": part}
                events.append(_event("content_block_delta", index=index, delta=delta))
        events.append(_event("content_block_stop", index=index))
    events.append(_event("ping"))
    events.append(
        _event(
            "message_delta",
            delta={"stop_reason": stop, "stop_sequence": None},
            usage={"output_tokens": 89},
        )
    )
    events.append(_event("message_stop"))
    return _sse(*events, names=True)


ANTHROPIC_TWO_CALLS = _anthropic(
    [
        {"type": "text", "text": "Let me check both."},
        {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "pieces": ["", '{"location": "Pa', 'ris, 巴黎"}'],
        },
        {"type": "tool_use", "id": "toolu_02Ab", "name": "get_time", "pieces": []},
    ],
    "tool_use",
)


def test_anthropic_tool_use_blocks_become_pieces_at_any_split() -> None:
    for sink in _read_at_every_split(ANTHROPIC_TWO_CALLS, lambda sink: MessagesReader("svc", sink)):
        assert "".join(sink.texts) == "Let me check both."
        assert _whole(sink) == [
            ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"location": "Paris, 巴黎"}'),
            # A call without arguments gets OpenAI's "{}", not "" (which no client can parse).
            ("toolu_02Ab", "get_time", "{}"),
        ]
        assert sink.calls[0] == (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", "")
        assert sink.finishes == [("tool_calls", None)]
        assert sink.usages == [(472, 89)]


def test_anthropic_json_output_tool_is_read_as_the_answer_text() -> None:
    data = _anthropic(
        [{"type": "tool_use", "id": "toolu_J", "name": "weather", "pieces": ['{"c": ', "12}"]}],
        "tool_use",
    )

    def json_reader(sink: Recording) -> MessagesReader:
        return MessagesReader("svc", sink, json_tool="weather")

    for sink in _read_at_every_split(data, json_reader):
        assert "".join(sink.texts) == '{"c": 12}' and sink.calls == []
        assert sink.finishes == [("stop", None)]


MODEL = ModelConfig(id="m", upstream="up-model")
HISTORY = [
    ChatMessage("system", "Be brief."),
    ChatMessage(
        "user",
        "What is this?",
        parts=(
            "What is this?",
            ImagePart("data:image/png;base64,AAAA"),
            ImagePart("https://x/y.png"),
        ),
    ),
    ChatMessage("assistant", "", tool_calls=(ToolCall("c1", "look", '{"q": 1}'),)),
    ChatMessage("tool", "a cat", tool_call_id="c1"),
    ChatMessage("user", "And?"),
]
OPTIONS = Options(
    tools=(Tool("look", "Look closer.", {"type": "object", "properties": {}}),),
    tool_choice="required",
    parallel_tool_calls=False,
    stop=("END",),
    user="u-1",
)


def test_openai_body_carries_the_surface_as_sent() -> None:
    provider = OpenAICompatible("oa", "http://up/v1", [MODEL], [])
    body = provider._body(ChatRequest(MODEL, HISTORY, options=OPTIONS))
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]
    assert body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "look", "arguments": '{"q": 1}'}}
        ],
    }
    assert body["messages"][3] == {"role": "tool", "content": "a cat", "tool_call_id": "c1"}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "look",
                "description": "Look closer.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert (body["stop"], body["user"]) == (["END"], "u-1")


def test_plain_requests_are_written_as_before() -> None:
    plain = [ChatMessage("user", "Hi")]
    body = OpenAICompatible("oa", "http://up/v1", [MODEL], [])._body(ChatRequest(MODEL, plain))
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert set(body) == {"model", "messages", "stream", "stream_options"}
    body = Anthropic("an", "http://up", [MODEL], [])._body(ChatRequest(MODEL, plain))
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert set(body) == {"model", "messages", "max_tokens", "stream"}


def test_anthropic_body_translates_the_surface() -> None:
    body = Anthropic("an", "http://up", [MODEL], [])._body(
        ChatRequest(MODEL, HISTORY, options=OPTIONS)
    )
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c1", "name": "look", "input": {"q": 1}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "a cat"},
                {"type": "text", "text": "And?"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "look",
            "description": "Look closer.",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["stop_sequences"] == ["END"] and body["metadata"] == {"user_id": "u-1"}


def test_mistral_gets_its_seed_field() -> None:
    options = Options(seed=5, response_format=ResponseFormat("json_object"))
    body = Mistral("mi", "http://up/v1", [MODEL], [])._body(
        ChatRequest(MODEL, [ChatMessage("user", "Hi")], options=options)
    )
    assert body["random_seed"] == 5 and "seed" not in body and "stream_options" not in body
    assert body["response_format"] == {"type": "json_object"}


KINDS: dict[ProviderKind, type[Any]] = {
    ProviderKind.openai: OpenAICompatible,
    ProviderKind.azure: AzureOpenAI,
    ProviderKind.gemini: Gemini,
    ProviderKind.mistral: Mistral,
    ProviderKind.anthropic: Anthropic,
    ProviderKind.chatgpt_web: ChatGPTWeb,
    ProviderKind.local: LocalLlama,
}
# field -> kinds that carry it (docs/api.md has the same table).
CARRIED: dict[str, set[str]] = {
    "tools": {"openai", "azure", "gemini", "mistral", "anthropic"},
    "parallel_tool_calls": {"openai", "azure", "mistral", "anthropic"},
    "image": {"openai", "azure", "gemini", "mistral", "anthropic"},
    "image_url": {"openai", "azure", "mistral", "anthropic"},
    "json_schema": {"openai", "azure", "gemini", "mistral", "anthropic"},
    "seed": {"openai", "azure", "gemini", "mistral"},
    "stop": {"openai", "azure", "gemini", "mistral", "anthropic"},
    "user": {"openai", "azure", "anthropic"},
    "n": {"openai", "azure"},
    "logprobs": {"openai", "azure"},
}
REQUESTS: dict[str, tuple[ChatRequest, str]] = {
    "tools": (
        ChatRequest(MODEL, [ChatMessage("user", "q")], options=Options(tools=OPTIONS.tools)),
        "tools",
    ),
    "parallel_tool_calls": (
        ChatRequest(
            MODEL,
            [ChatMessage("user", "q")],
            options=Options(tools=OPTIONS.tools, parallel_tool_calls=True),
        ),
        "parallel_tool_calls",
    ),
    "image": (
        ChatRequest(
            MODEL, [ChatMessage("user", "q", parts=("q", ImagePart("data:image/png;base64,AA")))]
        ),
        "messages[0].content[1]",
    ),
    "image_url": (
        ChatRequest(MODEL, [ChatMessage("user", "q", parts=("q", ImagePart("https://x/y.png")))]),
        "messages[0].content[1]",
    ),
    "json_schema": (
        ChatRequest(
            MODEL,
            [ChatMessage("user", "q")],
            options=Options(response_format=ResponseFormat("json_schema", "s", {"type": "object"})),
        ),
        "response_format",
    ),
    "seed": (ChatRequest(MODEL, [ChatMessage("user", "q")], options=Options(seed=1)), "seed"),
    "stop": (ChatRequest(MODEL, [ChatMessage("user", "q")], options=Options(stop=("x",))), "stop"),
    "user": (ChatRequest(MODEL, [ChatMessage("user", "q")], options=Options(user="u")), "user"),
    "n": (ChatRequest(MODEL, [ChatMessage("user", "q")], options=Options(n=2)), "n"),
    "logprobs": (
        ChatRequest(MODEL, [ChatMessage("user", "q")], options=Options(logprobs=True)),
        "logprobs",
    ),
}


@pytest.mark.parametrize("kind", list(ProviderKind))
@pytest.mark.parametrize("field", list(CARRIED))
def test_each_kind_carries_or_refuses_each_field_by_name(kind: ProviderKind, field: str) -> None:
    provider = KINDS[kind]
    request, param = REQUESTS[field]
    if kind.value in CARRIED[field]:
        surface.check(kind.value, provider.surface, request)
        return
    if field == "parallel_tool_calls" and kind.value not in CARRIED["tools"]:
        param = "tools"  # the tools themselves are refused first
    with pytest.raises(BadRequest) as caught:
        surface.check(kind.value, provider.surface, request)
    assert caught.value.status == 400
    assert caught.value.extra == {"type": "invalid_request_error", "param": param}


def test_tool_arguments_that_are_not_an_object_are_refused_for_anthropic_only() -> None:
    history = [
        ChatMessage("user", "q"),
        ChatMessage("assistant", "", tool_calls=(ToolCall("c", "f", "not json"),)),
        ChatMessage("tool", "r", tool_call_id="c"),
    ]
    request = ChatRequest(MODEL, history, options=OPTIONS)
    surface.check("openai", OpenAICompatible.surface, request)
    with pytest.raises(BadRequest) as caught:
        surface.check("anthropic", Anthropic.surface, request)
    assert caught.value.extra["param"] == "messages[1].tool_calls[0].function.arguments"


def test_openai_logprobs_go_to_the_sink_after_their_text() -> None:
    entry = {"token": "Hi", "logprob": -0.01, "bytes": [72, 105], "top_logprobs": []}
    data = _sse(
        _chunk({"role": "assistant", "content": "Hi"}, None)
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "Hi"},
                    "logprobs": {"content": [entry], "refusal": None},
                    "finish_reason": None,
                }
            ]
        },
        _chunk({}, "stop"),
        "[DONE]",
    )
    for sink in _read_at_every_split(data, lambda sink: ChatCompletionsReader("svc", sink)):
        assert sink.texts == ["Hi"] and sink.probs == [entry]


def test_openai_other_choices_go_to_the_sink_by_index() -> None:
    def both(first: dict[str, Any], second: dict[str, Any], finish: str | None) -> dict[str, Any]:
        chunk = _chunk(first, finish)
        chunk["choices"].append({"index": 1, "delta": second, "finish_reason": finish})
        return chunk

    data = _sse(
        both({"role": "assistant", "content": "Yes"}, {"role": "assistant", "content": "No"}, None),
        both({"content": "!"}, {"content": "?"}, None),
        both({}, {}, "stop"),
        "[DONE]",
    )
    for sink in _read_at_every_split(data, lambda sink: ChatCompletionsReader("svc", sink)):
        assert sink.texts == ["Yes", "!"] and sink.finishes == [("stop", None)]
        assert sink.choices == [(1, "No", None), (1, "?", None), (1, None, "stop")]
