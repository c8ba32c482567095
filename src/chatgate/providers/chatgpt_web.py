"""ChatGPT's web backend through a reverse proxy, with an access token (chatgpt-web's "free" mode).

The proxy's operator can see the token: there is no default proxy, the administrator chooses one.
Context lives upstream: each request sends only the new question, with the upstream
`conversation_id` and the id of the answer it follows. Every event carries the whole answer so
far in `message.content.parts[0]`; we turn it into deltas. One request at a time per token.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

from chatgate.config import ModelConfig, ProviderKind
from chatgate.errors import UpstreamError
from chatgate.providers.base import ChatRequest, Credential, Finish, ProviderEvent, TextDelta
from chatgate.providers.http import error_from_response, iter_sse, loads
from chatgate.providers.wire import UpstreamClient


class ChatGPTWeb:
    kind = ProviderKind.chatgpt_web

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

    async def stream_chat(
        self, request: ChatRequest, credential: Credential
    ) -> AsyncGenerator[ProviderEvent, None]:
        client: UpstreamClient = credential.client
        user_message_id = str(uuid.uuid4())
        body = self._body(request, user_message_id)
        headers = {"authorization": f"Bearer {credential.secret}", "accept": "text/event-stream"}
        sent = ""
        conversation_id: str | None = body.get("conversation_id")
        message_id: str | None = None
        finished = False
        async with client.stream("POST", self.url, json=body, headers=headers) as response:
            content_type = response.headers.get("content-type", "")
            if response.status_code != 200 or "text/html" in content_type:
                raise error_from_response(
                    self.name, response.status_code, response.headers, await response.aread()
                )
            async for event in iter_sse(response.aiter_bytes()):
                if event.data == "[DONE]":
                    finished = True
                    break
                data = loads(event.data)
                if not isinstance(data, dict):
                    continue
                if data.get("error"):
                    raise UpstreamError(
                        "ChatGPT reported an error.",
                        detail=f"{self.name}: {str(data['error'])[:300]}",
                    )
                conversation_id = data.get("conversation_id") or conversation_id
                message = data.get("message") or {}
                if (message.get("author") or {}).get("role") != "assistant":
                    continue
                message_id = message.get("id") or message_id
                parts = (message.get("content") or {}).get("parts") or []
                text = parts[0] if parts and isinstance(parts[0], str) else ""
                # Cumulative text: send only what is new. A rewrite of earlier text (rare)
                # cannot be unsent, so only its new tail goes out.
                if message.get("status") == "finished_successfully" or message.get("end_turn"):
                    finished = True
                if len(text) > len(sent):
                    delta = text[len(sent) :]
                    sent = text
                    yield TextDelta(delta)
        if not finished:
            raise UpstreamError(
                "ChatGPT ended the answer early.",
                detail=f"{self.name}: stream closed without [DONE]",
            )
        yield Finish(
            "stop",
            state={
                "conversation_id": conversation_id,
                "message_id": message_id,
                "user_message_id": user_message_id,
                "parent_message_id": body["parent_message_id"],
            },
        )

    async def list_models(self) -> list[str]:
        return [m.id for m in self.models]

    async def aclose(self) -> None:
        for credential in self.credentials:
            await credential.client.aclose()
