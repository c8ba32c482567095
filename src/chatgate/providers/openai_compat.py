"""OpenAI Chat Completions and every server that speaks it: OpenAI, DeepSeek, Ollama `/v1`, vLLM,
llama.cpp server, LM Studio, OpenRouter."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import UpstreamError
from chatgate.providers.base import (
    ChatRequest,
    Credential,
    Finish,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from chatgate.providers.http import error_from_response, iter_sse, loads, redact, transport_error


class OpenAICompatible:
    kind = ProviderKind.openai

    def __init__(
        self, name: str, base_url: str, models: list[ModelConfig], credentials: list[Credential]
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.models = models
        self.credentials = credentials

    def _headers(self, credential: Credential) -> dict[str, str]:
        headers = {"accept": "text/event-stream"}
        if credential.secret:
            headers["authorization"] = f"Bearer {credential.secret}"
        return headers

    def _body(self, request: ChatRequest) -> dict[str, Any]:
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

    async def stream_chat(
        self, request: ChatRequest, credential: Credential
    ) -> AsyncGenerator[ProviderEvent, None]:
        client: httpx.AsyncClient = credential.client
        url = f"{self.base_url}/chat/completions"
        responded = False
        finished = False
        try:
            async with client.stream(
                "POST", url, json=self._body(request), headers=self._headers(credential)
            ) as response:
                responded = True
                if response.status_code != 200:
                    raise error_from_response(
                        self.name, response.status_code, response.headers, await response.aread()
                    )
                async for event in iter_sse(response.aiter_bytes()):
                    if event.data == "[DONE]":
                        finished = True
                        break
                    chunk = loads(event.data)
                    if not isinstance(chunk, dict):
                        continue  # keep-alive noise or a garbled line: skip, as the SDKs do
                    if "error" in chunk:
                        error = chunk["error"]
                        message = error.get("message") if isinstance(error, dict) else str(error)
                        raise UpstreamError(
                            f"The AI service reported an error: {redact(str(message))[:300]}",
                            detail=f"{self.name}: error event in stream: {redact(event.data)[:300]}",
                        )
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                        if reasoning:
                            yield ReasoningDelta(reasoning)
                        content = delta.get("content")
                        if content:
                            yield TextDelta(content)
                        reason = choice.get("finish_reason")
                        if reason:
                            finished = True
                            yield Finish(reason)
                    usage = chunk.get("usage")
                    if usage:
                        yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc, before_response=not responded) from exc
        if not finished:
            raise UpstreamError(
                "The AI service ended the answer early.",
                detail=f"{self.name}: stream closed without finish_reason or [DONE]",
            )

    async def list_models(self) -> list[str]:
        credential = self.credentials[0]
        response = await credential.client.get(
            f"{self.base_url}/models", headers=self._headers(credential)
        )
        if response.status_code != 200:
            raise error_from_response(
                self.name, response.status_code, response.headers, response.content
            )
        data = response.json().get("data", [])
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]

    async def aclose(self) -> None:
        for credential in self.credentials:
            await credential.client.aclose()
