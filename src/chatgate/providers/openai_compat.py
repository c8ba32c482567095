"""OpenAI Chat Completions and every server that speaks it: OpenAI, DeepSeek, Ollama `/v1`, vLLM,
llama.cpp server, LM Studio, OpenRouter, Mistral, Groq, Gemini's OpenAI-compatible endpoint.

Dialect differences the reader absorbs: reasoning as `reasoning_content` (DeepSeek, vLLM) or
`reasoning` (OpenRouter); `refusal` text (OpenAI); usage in a last chunk with empty `choices`
(OpenAI with `include_usage`), or in `x_groq.usage` (Groq); chunks with empty `choices` and
`prompt_filter_results` (Azure); an `error` object inside a 200 stream (OpenRouter); comment lines
(`: OPENROUTER PROCESSING`).
"""

from __future__ import annotations

from typing import Any

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import UpstreamError
from chatgate.providers.base import ChatMessage, ChatRequest, Credential, StreamSink
from chatgate.providers.client import get_json, loads, post_and_read
from chatgate.providers.errors import redact
from chatgate.providers.sse import SSEParser
from chatgate.providers.surface import NO_OPTIONS, OPENAI_SURFACE, Options


class OpenAICompatible:
    kind = ProviderKind.openai
    surface = OPENAI_SURFACE

    def __init__(
        self, name: str, base_url: str, models: list[ModelConfig], credentials: list[Credential]
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.models = models
        self.credentials = credentials

    # -- what differs between OpenAI-compatible services (Azure overrides these) -----------------
    def _headers(self, credential: Credential) -> dict[str, str]:
        headers = {"accept": "text/event-stream"}
        if credential.secret:
            headers["authorization"] = f"Bearer {credential.secret}"
        return headers

    def _completions_url(self, request: ChatRequest) -> str:
        return f"{self.base_url}/chat/completions"

    def _models_url(self) -> str:
        return f"{self.base_url}/models"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        # Role and content (and /v1's tool calls and parts): reasoning is never sent back
        # (DeepSeek refuses it with a 400).
        body: dict[str, Any] = {
            "model": request.model.upstream_name,
            "messages": [
                _message(m) if m.structured else {"role": m.role, "content": m.content}
                for m in request.messages
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key in ("temperature", "top_p", "max_tokens"):
            value = getattr(request, key)
            if value is not None:
                body[key] = value
        if request.options is not NO_OPTIONS:
            body.update(options_body(request.options))
        return body

    # -- the provider contract ------------------------------------------------------------------
    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        await post_and_read(
            self.name,
            credential.client,
            self._completions_url(request),
            json=self._body(request),
            headers=self._headers(credential),
            reader=ChatCompletionsReader(self.name, sink),
        )

    async def list_models(self) -> list[str]:
        """`GET {base}/models` (`data[].id`). An Ollama too old for that (its OpenAI-style API
        answers chat but 404 here) is asked its native `GET /api/tags` (`models[].name`)."""
        credential = self.credentials[0]
        headers = self._headers(credential)
        try:
            data = await get_json(self.name, credential.client, self._models_url(), headers=headers)
        except UpstreamError as exc:
            if not (self.base_url.endswith("/v1") and "HTTP 404" in exc.detail):
                raise
            tags = f"{self.base_url.removesuffix('/v1')}/api/tags"
            native = await get_json(self.name, credential.client, tags, headers=headers)
            items = native.get("models", []) if isinstance(native, dict) else []
            return [
                str(item["name"]) for item in items if isinstance(item, dict) and "name" in item
            ]
        items = data.get("data", []) if isinstance(data, dict) else []
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]

    async def aclose(self) -> None:
        for credential in self.credentials:
            await credential.client.aclose()


def _message(message: ChatMessage) -> dict[str, Any]:
    """A /v1 message with its typed parts, tool calls or tool-call id, as OpenAI spells them."""
    out: dict[str, Any] = {"role": message.role}
    if message.parts:
        out["content"] = [
            {"type": "text", "text": part}
            if isinstance(part, str)
            else {
                "type": "image_url",
                "image_url": {"url": part.url, **({"detail": part.detail} if part.detail else {})},
            }
            for part in message.parts
        ]
    else:
        out["content"] = message.content if message.content or not message.tool_calls else None
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def options_body(options: Options) -> dict[str, Any]:
    """The request fields of `options`, as OpenAI spells them (only those that were given)."""
    body: dict[str, Any] = {}
    if options.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description is not None else {}),
                    **({"parameters": tool.parameters} if tool.parameters is not None else {}),
                    **({"strict": tool.strict} if tool.strict is not None else {}),
                },
            }
            for tool in options.tools
        ]
    if options.tool_choice == "function":
        body["tool_choice"] = {"type": "function", "function": {"name": options.tool_choice_name}}
    elif options.tool_choice is not None:
        body["tool_choice"] = options.tool_choice
    if options.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = options.parallel_tool_calls
    fmt = options.response_format
    if fmt is not None and fmt.type == "json_schema":
        schema: dict[str, Any] = {"name": fmt.name or "response"}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.schema is not None:
            schema["schema"] = fmt.schema
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt is not None:
        body["response_format"] = {"type": fmt.type}
    if options.seed is not None:
        body["seed"] = options.seed
    if options.stop:
        body["stop"] = list(options.stop)
    if options.user is not None:
        body["user"] = options.user
    if options.n is not None:
        body["n"] = options.n
    if options.logprobs:
        body["logprobs"] = True
        if options.top_logprobs is not None:
            body["top_logprobs"] = options.top_logprobs
    return body


class ChatCompletionsReader:
    """Chat Completions chunks, read from the bytes as they arrive, told to a sink.

    Socket-free: `feed` takes any split of the body, `close` says whether it ended properly.
    """

    __slots__ = ("finished", "name", "parser", "sink")

    def __init__(self, name: str, sink: StreamSink) -> None:
        self.name = name
        self.sink = sink
        self.parser = SSEParser()
        self.finished = False

    def feed(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            self.event(event.data)

    def close(self) -> None:
        """The body ended: read what was left, and fail if the answer never finished."""
        for event in self.parser.close():
            self.event(event.data)
        if not self.finished:
            raise UpstreamError(
                "The AI service ended the answer early.",
                retryable=True,  # only ever retried when no text arrived yet
                detail=f"{self.name}: stream closed without finish_reason or [DONE]",
            )

    def event(self, data: str) -> None:
        if data == "[DONE]":
            self.finished = True
            return
        chunk = loads(data)
        if not isinstance(chunk, dict):
            return  # keep-alive noise or a garbled line: skip, as the SDKs do
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise UpstreamError(
                f"The AI service reported an error: {redact(str(message))[:300]}",
                detail=f"{self.name}: error event in stream: {redact(data)[:300]}",
            )
        sink = self.sink
        for choice in chunk.get("choices") or ():
            if choice.get("index"):  # another choice than the first (n > 1)
                self.other(choice)
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and isinstance(reasoning, str):
                sink.reasoning(reasoning)
            content = delta.get("content")
            if content:
                if isinstance(content, str):
                    sink.text(content)
                else:
                    _typed_parts(content, sink)
            refusal = delta.get("refusal")
            if refusal:
                sink.text(refusal)
            calls = delta.get("tool_calls")
            if calls:
                _tool_calls(calls, sink)
            logprobs = choice.get("logprobs")
            if logprobs and isinstance(logprobs, dict) and logprobs.get("content"):
                sink.logprobs(logprobs["content"])
            reason = choice.get("finish_reason")
            if reason:
                self.finished = True
                sink.finish(reason)
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            sink.usage(*_token_counts(usage))

    def other(self, choice: dict[str, Any]) -> None:
        index = choice["index"]
        if not isinstance(index, int):
            return
        delta = choice.get("delta") or {}
        for key in ("content", "refusal"):
            text = delta.get(key)
            if text and isinstance(text, str):
                self.sink.choice(index, text, None)
        reason = choice.get("finish_reason")
        if reason:
            self.sink.choice(index, None, str(reason))


def _tool_calls(calls: Any, sink: StreamSink) -> None:
    """`delta.tool_calls`: pieces of calls by `index` (a server that leaves the index out, as
    Gemini's does, sends each call whole, in order)."""
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        index = call.get("index")
        arguments = function.get("arguments")
        name, call_id = function.get("name"), call.get("id")
        sink.tool_call(
            index if isinstance(index, int) else position,
            call_id if isinstance(call_id, str) and call_id else None,
            name if isinstance(name, str) and name else None,
            arguments if isinstance(arguments, str) else "",
        )


def _typed_parts(parts: Any, sink: StreamSink) -> None:
    """Content as a list of typed parts (Mistral's reasoning models): `text` parts are the answer,
    `thinking` parts (themselves lists of text parts) its reasoning."""
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                sink.text(part["text"])
        elif part.get("type") == "thinking":
            for piece in part.get("thinking") or ():
                if isinstance(piece, dict) and isinstance(piece.get("text"), str) and piece["text"]:
                    sink.reasoning(piece["text"])


def _token_counts(usage: dict[str, Any]) -> tuple[int | None, int | None]:
    """Prompt and completion tokens. Gemini counts a thinking model's thoughts only in
    `total_tokens`; they are generated (and billed) output, so they count as completion."""
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    total = usage.get("total_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and isinstance(total, int):
        completion = max(completion, total - prompt)
    return prompt, completion
