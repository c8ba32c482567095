"""The read paths: conversation and message rows straight to JSON bytes.

The sidebar and a conversation's messages are read far more than anything else, also while
answers stream: their rows are turned into JSON bytes by orjson in the database reader thread,
with no ORM object or pydantic model per row, and the route sends the bytes. The shape is the API's
ConversationOut / MessageOut exactly (documented by the routes' `response_model`; tests compare
the two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from chatgate.db.repos.conversation_reads import Row
from chatgate.services.attachments.store import listed
from chatgate.services.conversations import ConversationSettings

# OPT_UTC_Z: UTC times end in "Z", as pydantic writes them.
_JSON = orjson.OPT_UTC_Z
NO_FILES: Mapping[str, list[Row]] = {}


def _float(value: Any) -> float | None:
    # SettingsOut declares floats: a stored 1 is sent as 1.0, as pydantic would.
    return None if value is None else float(value)


def conversation_json(row: Row) -> dict[str, Any]:
    settings = ConversationSettings.of(row.settings)
    return {
        "id": row.id,
        "title": row.title,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "current_leaf_id": row.current_leaf_id,
        "settings": {
            "model": settings.model,
            "system_prompt": settings.system_prompt,
            "temperature": _float(settings.temperature),
            "top_p": _float(settings.top_p),
            "max_tokens": settings.max_tokens,
            "context_messages": settings.context_messages,
            "context_tokens": settings.context_tokens,
        },
    }


def message_json(row: Row, files: Mapping[str, list[Row]] = NO_FILES) -> dict[str, Any]:
    # Unpacked by position (conversation_reads.MESSAGE_COLUMNS' order): a Row's attribute
    # lookup by name costs more than the rest of this function for a long conversation.
    (
        message_id,
        parent_id,
        role,
        content,
        reasoning,
        status,
        model,
        error_code,
        error_message,
        finish_reason,
        prompt_tokens,
        completion_tokens,
        created_at,
        updated_at,
        parts,
        *_,
    ) = row
    return {
        "id": message_id,
        "parent_id": parent_id,
        "role": role,
        "content": content,
        "reasoning": reasoning or "",
        "status": status,
        "model": model,
        "error": {"code": error_code, "message": error_message or ""} if error_code else None,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "created_at": created_at,
        "updated_at": updated_at,
        "attachments": [listed(f) for f in files.get(message_id, ())] if files else [],
        "parts": parts or [],
    }


def page_bytes(rows: Sequence[Row], next_cursor: str | None) -> bytes:
    items = [conversation_json(row) for row in rows]
    return orjson.dumps({"items": items, "next_cursor": next_cursor}, option=_JSON)


def conversation_bytes(row: Row) -> bytes:
    return orjson.dumps(conversation_json(row), option=_JSON)


def messages_bytes(
    rows: Sequence[Row], current_leaf_id: str | None, files: Mapping[str, list[Row]] = NO_FILES
) -> bytes:
    messages = [message_json(row, files) for row in rows]
    return orjson.dumps({"messages": messages, "current_leaf_id": current_leaf_id}, option=_JSON)
