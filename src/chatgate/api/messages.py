"""Deleting one message of a conversation (and, for a question, the answers below it)."""

from __future__ import annotations

from fastapi import APIRouter

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import Id, _Out
from chatgate.services.messages import Messages

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


class DeletionOut(_Out):
    deleted: list[str]
    current_leaf_id: str | None


@router.delete("/{conversation_id}/messages/{message_id}", response_model=DeletionOut)
async def delete_message(
    conversation_id: Id, message_id: Id, user: CurrentUser, services: ServicesDep
) -> DeletionOut:
    """Deletes the message and everything below it in the tree (a question's answers and the
    later turns under them); answers still being written there are stopped first. Returns the
    deleted ids and the conversation's current leaf afterwards."""
    deletion = await Messages(services.db, services.generations).delete(
        user.id, conversation_id, message_id
    )
    return DeletionOut(deleted=deletion.deleted, current_leaf_id=deletion.current_leaf_id)
