"""Conversations and their message tree. Every query is scoped by the signed-in user: another
user's id is simply not found."""

from __future__ import annotations

from typing import Annotated

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
from chatgate.errors import ModelUnavailable
from chatgate.services.chat_defaults import ChatDefaults
from chatgate.services.container import Services
from chatgate.services.conversation_json import conversation_bytes, messages_bytes, page_bytes
from chatgate.services.conversations import CURSOR_PATTERN, ConversationView, MessageView

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


def conversation_out(conversation: ConversationView) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        current_leaf_id=conversation.current_leaf_id,
        settings=SettingsOut.model_validate(conversation.settings),
    )


def message_out(message: MessageView) -> MessageOut:
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
        reasoning=message.reasoning,
        status=message.status,
        model=message.model,
        error=error,
        finish_reason=message.finish_reason,
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        created_at=message.created_at,
        updated_at=message.updated_at,
        parts=message.parts,
    )


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
