"""Anthropic's Messages API (streaming)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import UpstreamError, UpstreamRateLimited
from chatgate.providers.base import ChatMessage, ChatRequest, Credential, StreamSink
from chatgate.providers.http import SSEParser, get_json, loads, post_and_read, redact

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096


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


class Anthropic:
    kind = ProviderKind.anthropic

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
        system, turns = _alternating(request.messages)
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
        return body

    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        await post_and_read(
            self.name,
            credential.client,
            f"{self.base_url}/messages",
            json=self._body(request),
            headers=self._headers(credential),
            reader=MessagesReader(self.name, sink),
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
    usage comes in `message_start` (input) and `message_delta` (output, cumulative).
    """

    __slots__ = ("finished", "name", "parser", "prompt_tokens", "sink", "stopped")

    def __init__(self, name: str, sink: StreamSink) -> None:
        self.name = name
        self.sink = sink
        self.parser = SSEParser()
        self.finished = False  # a stop_reason arrived
        self.stopped = False  # message_stop arrived: anything after it is ignored
        self.prompt_tokens: int | None = None

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
                sink.finish("length" if reason == "max_tokens" else "stop")
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            self._raise(data)

    def _raise(self, data: dict[str, Any]) -> None:
        error = data.get("error") or {}
        kind, message = error.get("type", ""), redact(str(error.get("message", "")))[:300]
        detail = f"{self.name}: error event {kind}: {message}"
        if kind in ("overloaded_error", "rate_limit_error"):
            raise UpstreamRateLimited(retryable=True, detail=detail)
        raise UpstreamError(f"The AI service reported an error: {message or kind}", detail=detail)


def _tokens(usage: dict[str, Any]) -> int | None:
    """Input tokens, counting those read from or written to Anthropic's prompt cache."""
    if usage.get("input_tokens") is None:
        return None
    return int(usage["input_tokens"]) + sum(
        int(usage.get(key) or 0)
        for key in ("cache_creation_input_tokens", "cache_read_input_tokens")
    )
