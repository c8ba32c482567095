"""Anthropic's Messages API (streaming).

/v1's OpenAI surface is translated: tools become `tools` with `input_schema`, `tool_choice`
`auto`/`required`/`none`/a function become `auto`/`any`/`none`/`tool` (and
`parallel_tool_calls: false` is `disable_parallel_tool_use`); an assistant turn's tool calls
become `tool_use` blocks and `tool` messages `tool_result` blocks in the next user turn; image
parts become `image` blocks (base64 from a data URL, else a `url` source); `stop` is
`stop_sequences` and `user` is `metadata.user_id`. JSON output (`response_format`) uses the
documented way of getting JSON from Claude: one tool whose `input_schema` is the schema, forced
with `tool_choice`, whose input is then read back as the answer's text. Back from the stream,
`tool_use` blocks are tool-call pieces (`content_block_start` brings id and name,
`input_json_delta` the argument text) and `stop_reason: "tool_use"` is "tool_calls".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import UpstreamError, UpstreamRateLimited
from chatgate.providers.base import ChatMessage, ChatRequest, Credential, StreamSink
from chatgate.providers.client import get_json, loads, post_and_read
from chatgate.providers.errors import redact
from chatgate.providers.sse import SSEParser
from chatgate.providers.surface import (
    IMAGE_URLS,
    IMAGES,
    JSON_OBJECT,
    JSON_SCHEMA,
    NO_OPTIONS,
    PARALLEL_TOOL_CALLS,
    STOP,
    TOOLS,
    USER,
    ImagePart,
    Options,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"  # the forced tool of JSON output when the schema has no name


def _alternating(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """System text apart; consecutive same-role turns merged; the first turn must be the user's."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(conversation continues)"})
    return system, turns


def _image_source(image: ImagePart) -> dict[str, str]:
    if image.url.startswith("data:"):
        head, _, data = image.url.partition(",")
        return {"type": "base64", "media_type": head[5:].split(";")[0], "data": data}
    return {"type": "url", "url": image.url}


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """A /v1 message as content blocks."""
    if message.role == "tool":
        result = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
        return [{**result, "content": message.content}] if message.content else [result]
    blocks: list[dict[str, Any]] = []
    for part in message.parts or ((message.content,) if message.content else ()):
        if isinstance(part, ImagePart):
            blocks.append({"type": "image", "source": _image_source(part)})
        elif part:
            blocks.append({"type": "text", "text": part})
    for call in message.tool_calls:
        # surface.check made sure each is a JSON object
        arguments = orjson.loads(call.arguments or "{}")
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


def _structured(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """Like `_alternating`, with content as blocks: a `tool` message joins the user turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "user" if message.role == "tool" else message.role
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(conversation continues)"})
    return system, turns


def _options(options: Options) -> tuple[dict[str, Any], str | None]:
    """The request fields of `options`, and the name of the forced JSON-output tool if any."""
    body: dict[str, Any] = {}
    choice: dict[str, Any] | None = None
    if options.tools:
        body["tools"] = [
            {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "input_schema": tool.parameters or {"type": "object", "properties": {}},
            }
            for tool in options.tools
        ]
    mode = options.tool_choice
    if mode == "function":
        choice = {"type": "tool", "name": options.tool_choice_name}
    elif mode is not None:
        choice = {"type": {"required": "any"}.get(mode, mode)}
    if options.parallel_tool_calls is False and options.tools and mode != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    json_tool = None
    fmt = options.response_format
    if fmt is not None:
        json_tool = fmt.name or JSON_TOOL
        schema = fmt.schema if fmt.type == "json_schema" and fmt.schema else {"type": "object"}
        body["tools"] = [
            {
                "name": json_tool,
                "description": fmt.description or "Give the answer as this tool's input.",
                "input_schema": schema,
            }
        ]
        choice = {"type": "tool", "name": json_tool}
    if choice is not None:
        body["tool_choice"] = choice
    if options.stop:
        body["stop_sequences"] = list(options.stop)
    if options.user is not None:
        body["metadata"] = {"user_id": options.user}
    return body, json_tool


class Anthropic:
    kind = ProviderKind.anthropic
    surface = frozenset(
        {TOOLS, PARALLEL_TOOL_CALLS, IMAGES, IMAGE_URLS, JSON_OBJECT, JSON_SCHEMA, STOP, USER}
    )

    def __init__(
        self, name: str, base_url: str, models: list[ModelConfig], credentials: list[Credential]
    ) -> None:
        self.name = name
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else f"{base}/v1"
        self.models = models
        self.credentials = credentials

    def _headers(self, credential: Credential) -> dict[str, str]:
        return {
            "x-api-key": credential.secret or "",
            "anthropic-version": API_VERSION,
            "accept": "text/event-stream",
        }

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        structured = any(m.structured for m in request.messages)
        system, turns = (_structured if structured else _alternating)(request.messages)
        body: dict[str, Any] = {
            "model": request.model.upstream_name,
            "messages": turns,
            "max_tokens": request.max_tokens
            or request.model.max_output_tokens
            or DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0..1
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.options is not NO_OPTIONS:
            body.update(_options(request.options)[0])
        return body

    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        json_tool = None
        if request.options.response_format is not None:
            json_tool = request.options.response_format.name or JSON_TOOL
        await post_and_read(
            self.name,
            credential.client,
            f"{self.base_url}/messages",
            json=self._body(request),
            headers=self._headers(credential),
            reader=MessagesReader(self.name, sink, json_tool=json_tool),
        )

    async def list_models(self) -> list[str]:
        """`GET /v1/models` (`data[].id`), page after page while `has_more` (newest first)."""
        credential = self.credentials[0]
        headers = {"x-api-key": credential.secret or "", "anthropic-version": API_VERSION}
        found: list[str] = []
        url = f"{self.base_url}/models?limit=1000"
        for _page in range(20):  # bounded: a misbehaving server cannot keep us paging forever
            data = await get_json(self.name, credential.client, url, headers=headers)
            items = data.get("data", []) if isinstance(data, dict) else []
            found += [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
            last = data.get("last_id") if isinstance(data, dict) else None
            if not (isinstance(data, dict) and data.get("has_more") and isinstance(last, str)):
                break
            url = f"{self.base_url}/models?limit=1000&after_id={quote(last, safe='')}"
        return found

    async def aclose(self) -> None:
        for credential in self.credentials:
            await credential.client.aclose()


class MessagesReader:
    """Anthropic's stream events, read from the bytes as they arrive, told to a sink.

    `ping` and `signature_delta` (the signature of a thinking block) carry nothing to show;
    usage comes in `message_start` (input) and `message_delta` (output, cumulative). A `tool_use`
    block is a tool call (the n-th such block is call n), or, when it is the forced `json_tool`
    of JSON output, the answer's text.
    """

    __slots__ = (
        "finished",
        "json_blocks",
        "json_tool",
        "name",
        "parser",
        "prompt_tokens",
        "sink",
        "stopped",
        "tool_blocks",
        "tool_written",
    )

    def __init__(self, name: str, sink: StreamSink, *, json_tool: str | None = None) -> None:
        self.name = name
        self.sink = sink
        self.parser = SSEParser()
        self.finished = False  # a stop_reason arrived
        self.stopped = False  # message_stop arrived: anything after it is ignored
        self.prompt_tokens: int | None = None
        self.json_tool = json_tool
        self.tool_blocks: dict[int, int] = {}  # block index -> tool call index
        self.json_blocks: set[int] = set()
        self.tool_written: set[int] = set()  # blocks whose input had some text

    def feed(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            if not self.stopped:
                self.event(event.event, event.data)

    def close(self) -> None:
        for event in self.parser.close():
            if not self.stopped:
                self.event(event.event, event.data)
        if not self.finished:
            raise UpstreamError(
                "The AI service ended the answer early.",
                retryable=True,  # only ever retried when no text arrived yet
                detail=f"{self.name}: stream closed before message_stop",
            )

    def event(self, name: str, raw: str) -> None:
        data = loads(raw)
        if not isinstance(data, dict):
            return
        kind = data.get("type", name)
        sink = self.sink
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            delta_type = delta.get("type")
            if delta_type == "text_delta" and delta.get("text"):
                sink.text(delta["text"])
            elif delta_type == "thinking_delta" and delta.get("thinking"):
                sink.reasoning(delta["thinking"])
            elif delta_type == "input_json_delta" and delta.get("partial_json"):
                self._input(data.get("index"), delta["partial_json"])
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._tool_use(data.get("index"), block)
        elif kind == "content_block_stop":
            index = data.get("index")
            if index not in self.tool_written and (
                index in self.tool_blocks or index in self.json_blocks
            ):
                self._input(index, "{}")  # a call without arguments: OpenAI's "{}"
        elif kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.prompt_tokens = _tokens(usage)
        elif kind == "message_delta":
            usage = data.get("usage") or {}
            if "output_tokens" in usage:
                prompt = _tokens(usage) if "input_tokens" in usage else self.prompt_tokens
                sink.usage(prompt, usage["output_tokens"])
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                self.finished = True  # message_stop may still follow, or be lost
                sink.finish(_finish_reason(reason, json_output=self.json_tool is not None))
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            self._raise(data)

    def _tool_use(self, index: Any, block: dict[str, Any]) -> None:
        if not isinstance(index, int):
            return
        name = block.get("name")
        if self.json_tool is not None and name == self.json_tool:
            self.json_blocks.add(index)
            return
        position = len(self.tool_blocks)
        self.tool_blocks[index] = position
        self.sink.tool_call(position, str(block.get("id") or ""), str(name or ""), "")

    def _input(self, index: Any, text: str) -> None:
        if index in self.json_blocks:
            self.tool_written.add(index)
            self.sink.text(text)
        elif index in self.tool_blocks:
            self.tool_written.add(index)
            self.sink.tool_call(self.tool_blocks[index], None, None, text)

    def _raise(self, data: dict[str, Any]) -> None:
        error = data.get("error") or {}
        kind, message = error.get("type", ""), redact(str(error.get("message", "")))[:300]
        detail = f"{self.name}: error event {kind}: {message}"
        if kind in ("overloaded_error", "rate_limit_error"):
            raise UpstreamRateLimited(retryable=True, detail=detail)
        raise UpstreamError(f"The AI service reported an error: {message or kind}", detail=detail)


def _finish_reason(reason: str, *, json_output: bool) -> str:
    if reason == "max_tokens":
        return "length"
    if reason == "tool_use" and not json_output:
        return "tool_calls"
    return "stop"


def _tokens(usage: dict[str, Any]) -> int | None:
    """Input tokens, counting those read from or written to Anthropic's prompt cache."""
    if usage.get("input_tokens") is None:
        return None
    return int(usage["input_tokens"]) + sum(
        int(usage.get(key) or 0)
        for key in ("cache_creation_input_tokens", "cache_read_input_tokens")
    )
