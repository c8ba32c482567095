"""Conversations and their message tree. Every query is scoped by the signed-in user: another
user's id is simply not found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response, status

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationPage,
    ConversationPatch,
    ErrorInfo,
    Id,
    MessageList,
    MessageOut,
    SettingsIn,
    SettingsOut,
    Text,
)
from chatgate.db.models import Conversation, Message
from chatgate.db.repos.conversation_reads import Row
from chatgate.errors import ModelUnavailable
from chatgate.services.attachments.store import listed
from chatgate.services.chat_defaults import ChatDefaults
from chatgate.services.container import Services
from chatgate.services.conversations import CURSOR_PATTERN, ConversationSettings

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


def conversation_out(conversation: Conversation) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        current_leaf_id=conversation.current_leaf_id,
        settings=SettingsOut.model_validate(ConversationSettings.of(conversation.settings)),
    )


def message_out(message: Message) -> MessageOut:
    error = (
        ErrorInfo(code=message.error_code, message=message.error_message or "")
        if message.error_code
        else None
    )
    return MessageOut(
        id=message.id,
        parent_id=message.parent_id,
        role=message.role,
        content=message.content,
        reasoning=message.reasoning or "",
        status=message.status,
        model=message.model,
        error=error,
        finish_reason=message.finish_reason,
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        created_at=message.created_at,
        updated_at=message.updated_at,
        parts=message.parts or [],
    )


# -- the read paths: rows straight to JSON ------------------------------------------------------
# The sidebar and a conversation's messages are read far more than anything else, also while
# answers stream: their rows are turned into JSON bytes by orjson in the database reader thread,
# with no ORM object or pydantic model per row, and the route sends the bytes. The shape is
# ConversationOut / MessageOut exactly (documented by `response_model`; tests compare the two).
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


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def _offered(services: Services, settings: SettingsIn | None) -> None:
    """A conversation cannot be set to a model this server does not offer (it would only fail
    at the next question)."""
    model = settings.model if settings is not None else None
    if model is not None and model not in {r.model.id for r in services.registry.models()}:
        raise ModelUnavailable(f"The model {model!r} is not available on this server.")


@router.get("", response_model=ConversationPage)
async def list_conversations(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        Text | None,
        Query(
            max_length=200,
            json_schema_extra={"pattern": CURSOR_PATTERN},
            description="A `next_cursor` as it was received (400 for anything else).",
        ),
    ] = None,
    q: Annotated[Text | None, Query(max_length=200)] = None,
) -> Response:
    """Newest activity first, a page at a time; `q` searches titles."""
    return _json(
        await services.conversations.read_page(
            user.id, limit=limit, cursor=cursor, query=q or None, render=page_bytes
        )
    )


@router.post("", response_model=ConversationOut, status_code=status.HTTP_201_CREATED)
async def create_conversation(
    body: ConversationIn, user: CurrentUser, services: ServicesDep
) -> ConversationOut:
    _offered(services, body.settings)
    chosen = body.settings.changes() if body.settings else None
    # What the request leaves out comes from the person's new-chat defaults.
    settings = await ChatDefaults(services.db).for_new_conversation(user.id, chosen)
    conversation = await services.conversations.create(user.id, title=body.title, settings=settings)
    return conversation_out(conversation)


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: Id, user: CurrentUser, services: ServicesDep
) -> Response:
    return _json(
        await services.conversations.read_one(user.id, conversation_id, conversation_bytes)
    )


@router.patch("/{conversation_id}", response_model=ConversationOut)
async def update_conversation(
    conversation_id: Id, body: ConversationPatch, user: CurrentUser, services: ServicesDep
) -> ConversationOut:
    _offered(services, body.settings)
    conversation = await services.conversations.update(
        user.id,
        conversation_id,
        title=body.title,
        settings=body.settings.changes() if body.settings else None,
        current_leaf_id=body.current_leaf_id,
    )
    return conversation_out(conversation)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(
    conversation_id: Id, user: CurrentUser, services: ServicesDep
) -> Response:
    await services.conversations.delete(user.id, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=MessageList)
async def list_messages(
    conversation_id: Id,
    user: CurrentUser,
    services: ServicesDep,
    leaf: Annotated[Id | None, Query(description="Only the branch ending at this message.")] = None,
) -> Response:
    return _json(
        await services.conversations.read_messages(
            user.id, conversation_id, leaf=leaf, render=messages_bytes
        )
    )
