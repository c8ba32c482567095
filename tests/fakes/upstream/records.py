"""What the fake remembers: every request it received, and the ChatGPT-web conversation chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatGptTurn", "Json", "RecordedRequest"]

Json = Any


@dataclass
class RecordedRequest:
    """One request the fake received (control-plane requests are not recorded)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Json
    received_at: float
    protocol: str  # "openai" | "anthropic" | "chatgpt_web" | "models" | "unknown"
    query: str = ""
    body: bytes = field(default=b"", repr=False)
    scenario: str = ""  # also "invalid_key", "busy", "bad_request", "not_found"
    status: int | None = None
    stream: bool = False
    tokens_sent: int = 0
    text_sent: str = ""
    prompt_tokens: int = 0
    closed_by_client_at: float | None = None
    finished_at: float | None = None
    # ChatGPT web only:
    conversation_id: str | None = None  # the conversation replied in (new or continued)
    parent_message_id: str | None = None  # as sent by the client
    user_message_id: str | None = None  # messages[-1].id as sent by the client
    message_id: str | None = None  # the assistant message id the fake replied with

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "received_at": self.received_at,
            "protocol": self.protocol,
            "scenario": self.scenario,
            "status": self.status,
            "stream": self.stream,
            "tokens_sent": self.tokens_sent,
            "text_sent": self.text_sent,
            "prompt_tokens": self.prompt_tokens,
            "closed_by_client_at": self.closed_by_client_at,
            "finished_at": self.finished_at,
            "conversation_id": self.conversation_id,
            "parent_message_id": self.parent_message_id,
            "user_message_id": self.user_message_id,
            "message_id": self.message_id,
        }


@dataclass
class ChatGptTurn:
    user_message_id: str
    parent_message_id: str | None
    assistant_message_id: str
