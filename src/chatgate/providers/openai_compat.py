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
from chatgate.providers.base import ChatRequest, Credential, StreamSink
from chatgate.providers.http import SSEParser, get_json, loads, post_and_read, redact


class OpenAICompatible:
    kind = ProviderKind.openai

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
        # Only role and content: reasoning is never sent back (DeepSeek refuses it with a 400).
        body: dict[str, Any] = {
            "model": request.model.upstream_name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key in ("temperature", "top_p", "max_tokens"):
            value = getattr(request, key)
            if value is not None:
                body[key] = value
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
            reason = choice.get("finish_reason")
            if reason:
                self.finished = True
                sink.finish(reason)
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            sink.usage(*_token_counts(usage))


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
