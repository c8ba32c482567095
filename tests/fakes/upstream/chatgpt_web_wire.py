"""ChatGPT web through a reverse proxy (chatgpt-web's accessToken mode):
``POST /backend-api/conversation`` (also ``/api/conversation`` and ``/conversation``).

Replies are cumulative (``message.content.parts[0]`` = the whole text so far) and carry no
usage. One request at a time per access token (another gets 429 ``{"detail": BUSY_DETAIL}``);
the conversation chain is checked by :class:`tests.fakes.upstream.server.FakeUpstream`.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.upstream.protocol import Exchange, WireProtocol
from tests.fakes.upstream.records import Json
from tests.fakes.upstream.wire import sse_data

__all__ = ["BUSY_DETAIL", "CHATGPT_WEB", "ChatGptWebWire"]

BUSY_DETAIL = (
    "Only one message at a time. Please allow any other responses to complete before sending "
    "another message, or wait one minute."
)


class ChatGptWebWire(WireProtocol):
    """ChatGPT's web back end (chatgpt-web's accessToken mode): cumulative replies."""

    name = "chatgpt_web"

    def error(self, status: int, kind: str) -> Json:
        if status == 401 and not kind:
            return {
                "detail": {
                    "message": "Your authentication token has expired. "
                    "Please try signing in again.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "token_expired",
                }
            }
        message = kind or {
            429: "You've reached our limit of messages per hour. Please try again later.",
        }.get(status, "Something went wrong. If this issue persists please contact us.")
        return {"detail": message}

    def check_messages(self, body: dict[str, Any], messages: list[Any]) -> str:
        if body.get("action") not in ("next", "variant", "continue"):
            return "Invalid action"
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
                return "Invalid message content"
        return ""

    def _message(self, ex: Exchange, text: str, *, final: bool, extra: dict[str, Any]) -> list[str]:
        metadata: dict[str, Any] = {
            "message_type": "next",
            "model_slug": ex.model,
            "parent_id": ex.user_message_id,
        }
        if final:
            finish = "max_tokens" if ex.finish_length else "stop"
            metadata["finish_details"] = {"type": finish, "stop_tokens": [100260]}
            metadata["is_complete"] = True
        payload = {
            "message": {
                "id": ex.record.message_id,
                "author": {"role": "assistant", "name": None, "metadata": {}},
                "create_time": ex.created,
                "update_time": None,
                "content": {"content_type": "text", "parts": [text]},
                "status": "finished_successfully" if final else "in_progress",
                "end_turn": True if final else None,
                "weight": 1.0,
                "metadata": metadata,
                "recipient": "all",
            },
            "conversation_id": ex.record.conversation_id,
            "error": None,
            **extra,
        }
        return [sse_data(payload)]

    def token_event(self, ex: Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        # Cumulative: the whole text so far, including this token.
        return self._message(ex, ex.text_so_far + token, final=False, extra=extra)

    def end_events(self, ex: Exchange) -> list[list[str]]:
        return [self._message(ex, ex.text_so_far, final=True, extra={})]

    def error_event(self, ex: Exchange) -> list[str]:
        return [
            sse_data(
                {
                    "message": None,
                    "conversation_id": ex.record.conversation_id,
                    "error": "Something went wrong while generating the response.",
                }
            )
        ]

    def invalid_event(self, ex: Exchange) -> list[str]:
        return ['data: {"message": {"id": "garbage", "content": {"parts": ["trunc']


CHATGPT_WEB = ChatGptWebWire()
