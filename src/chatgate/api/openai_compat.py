"""The OpenAI-compatible gateway for people's own tools: `GET /v1/models`,
`POST /v1/chat/completions` (streaming or not), with personal API keys, under the same
scheduler, quotas and ledger as the web app. Conversations are not stored; usage is.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.errors import error_response
from chatgate.api.schemas import Text
from chatgate.api.sse import HEADERS, hand_off, write_until_gone
from chatgate.errors import ChatGateError, UpstreamError, ValidationFailed, error_for_code
from chatgate.providers.base import ChatMessage
from chatgate.providers.surface import (
    NO_OPTIONS,
    ImagePart,
    Options,
    ResponseFormat,
    Tool,
    ToolCall,
    UnsupportedField,
)
from chatgate.services.live import (
    CHOICE,
    DELTA,
    DONE,
    ERROR,
    LOGPROBS,
    REASONING,
    TOOL_CALL,
    LiveGeneration,
)

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
DONE_LINE = b"data: [DONE]\n\n"
COMPLETIONS = "/v1/chat/completions"
# A request may carry images inline (base64 data URLs): larger than other bodies.
MAX_BODY = 20 * 1024 * 1024


class _ImageUrl(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: Annotated[str, Field(min_length=1)]
    detail: Literal["auto", "low", "high"] | None = None


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "text"
    text: Text = ""
    image_url: _ImageUrl | None = None


class _Function(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    arguments: str = ""


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, Field(min_length=1, max_length=200)]
    type: Literal["function"] = "function"
    function: _Function


# What an image URL may be: the upstream fetches http(s) itself; inline images are base64 of
# the types every vision API takes.
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}\Z")


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[_Part] | None = None
    tool_calls: Annotated[list[_ToolCall], Field(max_length=128)] | None = None
    tool_call_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    def as_chat(self, at: int) -> ChatMessage:
        parts: list[str | ImagePart] = []
        if isinstance(self.content, list):
            for j, part in enumerate(self.content):
                if part.type == "text":
                    parts.append(part.text)
                elif part.type == "image_url" and part.image_url is not None:
                    if self.role != "user":  # as OpenAI: images are questions, not answers
                        raise UnsupportedField(
                            f"messages[{at}].content[{j}]", "Only user messages can hold images."
                        )
                    parts.append(_image(part.image_url, f"messages[{at}].content[{j}]"))
                else:
                    raise UnsupportedField(
                        f"messages[{at}].content[{j}].type",
                        f"Content parts of type {part.type!r} are not supported.",
                    )
            text = "".join(p for p in parts if isinstance(p, str))
        else:
            text = self.content or ""
        if self.role == "tool" and self.tool_call_id is None:
            raise UnsupportedField(
                f"messages[{at}].tool_call_id", "A tool message must say which call it answers."
            )
        if self.tool_calls and self.role != "assistant":
            raise UnsupportedField(
                f"messages[{at}].tool_calls", "Only assistant messages carry tool calls."
            )
        calls = tuple(
            ToolCall(c.id, c.function.name, c.function.arguments) for c in self.tool_calls or ()
        )
        return ChatMessage(
            "system" if self.role == "developer" else self.role,
            text,
            # Typed parts only when there is an image: text parts alone are the text.
            parts=tuple(parts) if any(isinstance(p, ImagePart) for p in parts) else (),
            tool_calls=calls,
            tool_call_id=self.tool_call_id if self.role == "tool" else None,
        )


def _image(image: _ImageUrl, where: str) -> ImagePart:
    url = image.url.strip()
    if not (url.startswith(("https://", "http://")) or _DATA_IMAGE.match(url)):
        raise UnsupportedField(
            f"{where}.image_url.url",
            "An image must be an http(s) URL or a base64 data URL of a PNG, JPEG, GIF or WebP.",
        )
    return ImagePart(url, image.detail)


class StreamOptions(BaseModel):
    include_usage: bool = False


class _FunctionDef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _ToolDef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    function: _FunctionDef


class _NamedFunction(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class _NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    function: _NamedFunction


class _JsonSchema(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: Annotated[Text, Field(min_length=1, max_length=200)]
    messages: Annotated[list[OpenAIMessage], Field(min_length=1, max_length=10_000)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    tools: Annotated[list[_ToolDef], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: _ResponseFormat | None = None
    seed: int | None = None
    stop: str | Annotated[list[str], Field(max_length=16)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    user: Annotated[str, Field(max_length=256)] | None = None

    def options(self) -> Options:
        choice: str | None
        named = None
        if isinstance(self.tool_choice, _NamedToolChoice):
            choice, named = "function", self.tool_choice.function.name
        else:
            choice = self.tool_choice
        if self.top_logprobs is not None and not self.logprobs:
            raise UnsupportedField("top_logprobs", "top_logprobs needs logprobs: true.")
        fmt = self.response_format
        response_format = None
        if fmt is not None and fmt.type == "json_schema":
            if fmt.json_schema is None:
                raise UnsupportedField(
                    "response_format.json_schema", "A json_schema response format needs its schema."
                )
            spec = fmt.json_schema
            response_format = ResponseFormat(
                "json_schema", spec.name, spec.schema_, spec.strict, spec.description
            )
        elif fmt is not None and fmt.type == "json_object":
            response_format = ResponseFormat("json_object")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        options = Options(
            tools=tuple(
                Tool(f.name, f.description, f.parameters, f.strict)
                for f in (t.function for t in self.tools or ())
            ),
            tool_choice=choice,
            tool_choice_name=named,
            parallel_tool_calls=self.parallel_tool_calls,
            response_format=response_format,
            seed=self.seed,
            stop=tuple(s for s in stop if s),
            user=self.user,
            n=self.n,
            logprobs=bool(self.logprobs),
            top_logprobs=self.top_logprobs if self.logprobs else None,
        )
        return NO_OPTIONS if options == NO_OPTIONS else options


def _chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None,
    logprobs: list[Any] | None = None,
    index: int = 0,
) -> bytes:
    choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs, "refusal": None}
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


class _ContentChunks:
    """`_chunk(…, {"content": text}, None)` for one completion, per token: the bytes around the
    text are the same for every chunk, so only the text is encoded (orjson keeps key order, so
    the result is byte-identical)."""

    __slots__ = ("head", "tail")

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        marker = "\x00"
        whole = _chunk(completion_id, created, model, {"content": marker}, None)
        # The last occurrence: the content comes after the id and the model name.
        self.head, _, self.tail = whole.rpartition(orjson.dumps(marker))

    def __call__(self, text: str) -> bytes:
        return self.head + orjson.dumps(text) + self.tail


_FINISH_REASONS = frozenset({"length", "tool_calls", "content_filter"})


def _reason(reason: str | None) -> str:
    return reason if reason is not None and reason in _FINISH_REASONS else "stop"


def _finish_reason(generation: LiveGeneration) -> str:
    return _reason(generation.finish_reason)


def _tool_delta(piece: dict[str, Any]) -> dict[str, Any]:
    """One tool-call piece as OpenAI streams it: id, type and name with the first piece of a
    call, then only the index and argument text."""
    function: dict[str, Any] = {"arguments": piece["arguments"]}
    if piece["name"]:
        function = {"name": piece["name"], "arguments": piece["arguments"]}
    delta: dict[str, Any] = {"index": piece["index"]}
    if piece["id"]:
        delta["id"] = piece["id"]
        delta["type"] = "function"
    delta["function"] = function
    return delta


def _error_of(payload: dict[str, Any]) -> ChatGateError:
    """The error a finished generation recorded, with its extras (and Retry-After) intact."""
    error = error_for_code(str(payload.get("code")), str(payload.get("message")))
    error.extra = {k: v for k, v in payload.items() if k not in ("code", "message")}
    retry_after = payload.get("retry_after")
    if isinstance(error, UpstreamError) and isinstance(retry_after, int | float):
        error.retry_after = float(retry_after)
    return error


class CompletionStream(Response):
    """OpenAI chunks as the answer is written; an `error` chunk (never an empty success) when the
    upstream fails mid-way. The client hanging up stops the generation."""

    def __init__(
        self, generation: LiveGeneration, *, include_usage: bool, on_close: Any, choices: int = 1
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = list(HEADERS)
        self.generation = generation
        self.include_usage = include_usage
        self.on_close = on_close
        self.choices = choices

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await hand_off(scope, receive, send, self._body)

    async def _body(self, send: Send, receive: Receive) -> None:
        try:
            await write_until_gone(receive, send, self._write)
        finally:
            self.on_close(self.generation)

    async def _write(self, send: Send) -> None:
        generation = self.generation
        completion_id, created, model = (
            f"chatcmpl-{generation.id}",
            int(time.time()),
            generation.model,
        )
        role = {"role": "assistant", "content": ""}
        await send(
            {
                "type": "http.response.body",
                "body": b"".join(
                    _chunk(completion_id, created, model, role, None, index=index)
                    for index in range(self.choices)
                ),
                "more_body": True,
            }
        )
        content_chunk = _ContentChunks(completion_id, created, model)
        cursor = 0
        log = generation.log
        while True:
            end = len(log)
            parts: list[bytes] = []
            for index in range(cursor, end):
                kind = log.kind(index)
                if kind == DELTA:
                    if index + 1 < end and log.kind(index + 1) == LOGPROBS:  # asked for: together
                        delta = {"content": log.payload(index)}
                        probs = log.payload(index + 1)
                        parts.append(_chunk(completion_id, created, model, delta, None, probs))
                    else:
                        parts.append(content_chunk(log.payload(index)))
                elif kind == LOGPROBS:
                    if log.kind(index - 1) != DELTA:  # else sent with its text
                        chunk = _chunk(completion_id, created, model, {}, None, log.payload(index))
                        parts.append(chunk)
                elif kind == REASONING:  # the field DeepSeek's and vLLM's clients read
                    delta = {"reasoning_content": log.payload(index)}
                    parts.append(_chunk(completion_id, created, model, delta, None))
                elif kind == TOOL_CALL:
                    delta = {"tool_calls": [_tool_delta(log.payload(index))]}
                    parts.append(_chunk(completion_id, created, model, delta, None))
                elif kind == CHOICE:  # n > 1
                    piece = log.payload(index)
                    text = piece.get("text")
                    delta = {"content": text} if text is not None else {}
                    finish = None if text is not None else _reason(piece["finish_reason"])
                    chunk = _chunk(
                        completion_id, created, model, delta, finish, index=piece["index"]
                    )
                    parts.append(chunk)
                elif kind == ERROR:
                    parts.append(
                        b"data: "
                        + orjson.dumps({"error": {**log.payload(index), "type": "upstream_error"}})
                        + b"\n\n"
                    )
                elif kind == DONE and not generation.error:
                    parts.append(
                        _chunk(completion_id, created, model, {}, _finish_reason(generation))
                    )
                    if self.include_usage:
                        usage = _usage(generation)
                        body = {
                            "id": completion_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "choices": [],
                            "usage": usage,
                        }
                        parts.append(b"data: " + orjson.dumps(body) + b"\n\n")
            cursor = end
            if parts:
                await send(
                    {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
                )
            if generation.finished and cursor == len(log):
                await send({"type": "http.response.body", "body": DONE_LINE, "more_body": False})
                return
            if cursor == len(log):
                await generation.wait()


def _usage(generation: LiveGeneration) -> dict[str, int]:
    prompt, completion = generation.prompt_tokens or 0, generation.completion_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@router.get("/models")
async def list_models(user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    quota = services.quotas.effective(user.role, user.quota)
    return {
        "object": "list",
        "data": [
            {"id": r.model.id, "object": "model", "created": 0, "owned_by": r.provider.name}
            for r in services.registry.models_for(user.role, user.username)
            if services.quotas.model_allowed(quota, r.model.id)
        ],
    }


@router.post(
    "/chat/completions",
    response_class=Response,
    responses={200: {"description": "A chat.completion, or chunks when streaming."}},
)
async def chat_completions(
    body: CompletionIn, user: CurrentUser, services: ServicesDep
) -> Response:
    messages = [m.as_chat(i) for i, m in enumerate(body.messages)]
    if not any(
        (m.role == "user" and (m.content.strip() or m.parts)) or m.role == "tool" for m in messages
    ):
        raise ValidationFailed("messages must contain a user message with text.")
    generation = await services.chat.complete(
        user.id,
        body.model,
        messages,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        options=body.options(),
    )
    if body.stream:
        services.generations.subscribed(generation)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return CompletionStream(
            generation,
            include_usage=include_usage,
            on_close=services.generations.unsubscribed,
            choices=body.n or 1,
        )
    assert generation.task is not None
    services.generations.subscribed(generation)
    try:
        await asyncio.shield(generation.task)
    finally:
        services.generations.unsubscribed(generation)
    if generation.error:
        return error_response(_error_of(generation.error))
    text, calls = generation.text_so_far(), generation.tool_calls()
    probs = generation.logprobs_so_far()
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    reasoning = generation.reasoning_so_far()
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for call in calls
        ]
    return JSONResponse(
        {
            "id": f"chatcmpl-{generation.id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": generation.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": _finish_reason(generation),
                    **({"logprobs": {"content": probs, "refusal": None}} if probs else {}),
                },
                *(
                    {
                        "index": index,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": _reason(reason),
                    }
                    for index, (text, reason) in sorted(generation.other_choices().items())
                ),
            ],
            "usage": _usage(generation),
        }
    )
