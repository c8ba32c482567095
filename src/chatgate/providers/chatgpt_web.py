"""ChatGPT's web backend through a reverse proxy, with an access token (chatgpt-web's "free" mode).

The proxy's operator can see the token: there is no default proxy, the administrator chooses one.
Context lives upstream: each request sends only the new question, with the upstream
`conversation_id` and the id of the answer it follows. Every event carries the whole answer so
far in `message.content.parts[0]`; we turn it into deltas. One request at a time per token.
"""

from __future__ import annotations

import uuid
from typing import Any

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import UpstreamError
from chatgate.providers.base import ChatRequest, Credential, StreamSink
from chatgate.providers.client import loads, post_and_read
from chatgate.providers.errors import redact
from chatgate.providers.sse import SSEParser
from chatgate.providers.surface import TEXT_ONLY


class ChatGPTWeb:
    kind = ProviderKind.chatgpt_web
    surface = TEXT_ONLY  # text in, text out: tools, images and the rest are refused

    def __init__(
        self, name: str, url: str, models: list[ModelConfig], credentials: list[Credential]
    ) -> None:
        self.name = name
        self.url = url
        self.models = models
        self.credentials = credentials

    def _body(self, request: ChatRequest, user_message_id: str) -> dict[str, Any]:
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        state = request.state or {}
        body: dict[str, Any] = {
            "action": "next",
            "messages": [
                {
                    "id": user_message_id,
                    "author": {"role": "user"},
                    "role": "user",
                    "content": {"content_type": "text", "parts": [question]},
                }
            ],
            "model": request.model.upstream_name,
            "parent_message_id": state.get("message_id") or str(uuid.uuid4()),
        }
        if state.get("conversation_id"):
            body["conversation_id"] = state["conversation_id"]
        return body

    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        user_message_id = str(uuid.uuid4())
        body = self._body(request, user_message_id)
        await post_and_read(
            self.name,
            credential.client,
            self.url,
            json=body,
            headers={"authorization": f"Bearer {credential.secret}", "accept": "text/event-stream"},
            reader=ConversationReader(
                self.name,
                sink,
                conversation_id=body.get("conversation_id"),
                user_message_id=user_message_id,
                parent_message_id=body["parent_message_id"],
            ),
            refuse_html=True,
        )

    async def list_models(self) -> list[str]:
        return [m.id for m in self.models]

    async def aclose(self) -> None:
        for credential in self.credentials:
            await credential.client.aclose()


class ConversationReader:
    """The web backend's events, read from the bytes as they arrive, told to a sink.

    Each event carries the whole answer so far; only what is new goes to the sink. A rewrite of
    earlier text (rare) cannot be unsent, so only its new tail goes out. The ids that continue
    the thread are handed over with `finish`, at `[DONE]`.
    """

    __slots__ = (
        "conversation_id",
        "done",
        "ended",
        "message_id",
        "name",
        "parent_message_id",
        "parser",
        "reason",
        "sent",
        "sink",
        "user_message_id",
    )

    def __init__(
        self,
        name: str,
        sink: StreamSink,
        *,
        conversation_id: str | None = None,
        user_message_id: str | None = None,
        parent_message_id: str | None = None,
    ) -> None:
        self.name = name
        self.sink = sink
        self.parser = SSEParser()
        self.conversation_id = conversation_id
        self.user_message_id = user_message_id
        self.parent_message_id = parent_message_id
        self.message_id: str | None = None
        self.sent = 0  # characters of the cumulative text already told
        self.ended = False  # the message said it is complete
        self.reason = "stop"
        self.done = False  # [DONE] arrived

    @property
    def finished(self) -> bool:
        return self.done or self.ended

    def feed(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            if not self.done:
                self.event(event.data)

    def close(self) -> None:
        for event in self.parser.close():
            if not self.done:
                self.event(event.data)
        if not self.finished:
            raise UpstreamError(
                "ChatGPT ended the answer early.",
                retryable=True,  # only ever retried when no text arrived yet
                detail=f"{self.name}: stream closed without [DONE]",
            )
        if not self.done:
            self._finish()

    def event(self, raw: str) -> None:
        if raw == "[DONE]":
            self.done = True
            self._finish()
            return
        data = loads(raw)
        if not isinstance(data, dict):
            return
        if data.get("error"):
            raise UpstreamError(
                "ChatGPT reported an error.",
                detail=f"{self.name}: {redact(str(data['error']))[:300]}",
            )
        self.conversation_id = data.get("conversation_id") or self.conversation_id
        message = data.get("message") or {}
        if (message.get("author") or {}).get("role") != "assistant":
            return
        self.message_id = message.get("id") or self.message_id
        parts = (message.get("content") or {}).get("parts") or []
        text = parts[0] if parts and isinstance(parts[0], str) else ""
        if message.get("status") == "finished_successfully" or message.get("end_turn"):
            self.ended = True
        details = (message.get("metadata") or {}).get("finish_details") or {}
        if details.get("type") == "max_tokens":
            self.reason = "length"
        if len(text) > self.sent:
            self.sink.text(text[self.sent :])
            self.sent = len(text)

    def _finish(self) -> None:
        self.sink.finish(
            self.reason,
            state={
                "conversation_id": self.conversation_id,
                "message_id": self.message_id,
                "user_message_id": self.user_message_id,
                "parent_message_id": self.parent_message_id,
            },
        )
