"""The OpenAI-compatible gateway for people's own tools: `GET /v1/models`,
`POST /v1/chat/completions` (streaming or not), with personal API keys, under the same
scheduler, quotas and ledger as the web app. Conversations are not stored; usage is.
"""

from __future__ import annotations

import asyncio
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
from chatgate.api.sse import HEADERS, write_until_gone
from chatgate.errors import ChatGateError, UpstreamError, ValidationFailed, error_for_code
from chatgate.providers.base import ChatMessage
from chatgate.services.live import DELTA, DONE, ERROR, REASONING, LiveGeneration

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
DONE_LINE = b"data: [DONE]\n\n"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "text"
    text: Text = ""


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[_Part] | None = None

    def as_chat(self) -> ChatMessage:
        if isinstance(self.content, list):
            text = "".join(p.text for p in self.content if p.type == "text")
        else:
            text = self.content or ""
        role = (
            "system" if self.role == "developer" else ("user" if self.role == "tool" else self.role)
        )
        return ChatMessage(role, text)


class StreamOptions(BaseModel):
    include_usage: bool = False


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


def _chunk(
    completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None
) -> bytes:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
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


def _finish_reason(generation: LiveGeneration) -> str:
    return "length" if generation.finish_reason == "length" else "stop"


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

    def __init__(self, generation: LiveGeneration, *, include_usage: bool, on_close: Any) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = list(HEADERS)
        self.generation = generation
        self.include_usage = include_usage
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            await write_until_gone(scope, receive, send, self._write)
        finally:
            self.on_close(self.generation)

    async def _write(self, send: Send) -> None:
        generation = self.generation
        completion_id, created, model = (
            f"chatcmpl-{generation.id}",
            int(time.time()),
            generation.model,
        )
        await send(
            {
                "type": "http.response.body",
                "body": _chunk(
                    completion_id, created, model, {"role": "assistant", "content": ""}, None
                ),
                "more_body": True,
            }
        )
        content_chunk = _ContentChunks(completion_id, created, model)
        cursor = 0
        while True:
            kinds, payloads = generation.kinds, generation.payloads
            end = len(kinds)
            parts: list[bytes] = []
            for index in range(cursor, end):
                kind = kinds[index]
                if kind == DELTA:
                    parts.append(content_chunk(payloads[index]))
                elif kind == REASONING:  # the field DeepSeek's and vLLM's clients read
                    delta = {"reasoning_content": payloads[index]}
                    parts.append(_chunk(completion_id, created, model, delta, None))
                elif kind == ERROR:
                    parts.append(
                        b"data: "
                        + orjson.dumps({"error": {**payloads[index], "type": "upstream_error"}})
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
            if generation.finished and cursor == len(generation.kinds):
                await send({"type": "http.response.body", "body": DONE_LINE, "more_body": False})
                return
            if cursor == len(generation.kinds):
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
    messages = [m.as_chat() for m in body.messages]
    if not any(m.role == "user" and m.content.strip() for m in messages):
        raise ValidationFailed("messages must contain a user message with text.")
    generation = await services.chat.complete(
        user.id,
        body.model,
        messages,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
    )
    if body.stream:
        services.generations.subscribed(generation)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return CompletionStream(
            generation, include_usage=include_usage, on_close=services.generations.unsubscribed
        )
    assert generation.task is not None
    services.generations.subscribed(generation)
    try:
        await asyncio.shield(generation.task)
    finally:
        services.generations.unsubscribed(generation)
    if generation.error:
        return error_response(_error_of(generation.error))
    message: dict[str, Any] = {"role": "assistant", "content": generation.text_so_far()}
    reasoning = generation.reasoning_so_far()
    if reasoning:
        message["reasoning_content"] = reasoning
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
                }
            ],
            "usage": _usage(generation),
        }
    )
