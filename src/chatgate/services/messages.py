"""Deleting one message: an answer, or a question with everything below it (its subtree).

Answers below the message that are still being written are stopped first (through
`Generations.stop`, so from any instance), then the subtree goes in one transaction, and the
conversation's current leaf moves to what survives: the branch it was on if that is untouched,
else the nearest sibling of the deleted message (its newest branch), else its parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import LIVE_STATUSES, Message
from chatgate.db.repos import conversations as repo
from chatgate.errors import Conflict, NotFound
from chatgate.services.conversations import load_conversation
from chatgate.services.generations import Generations

ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Deletion:
    deleted: list[str]
    current_leaf_id: str | None


class _StartedMeanwhile(Exception):
    """An answer in the subtree started between stopping and deleting: stop it too."""


def _by_creation(messages: Sequence[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.created_at, m.id))


def subtree(messages: Sequence[Message], root_id: str) -> list[str]:
    """`root_id` and every message below it, parents before children."""
    children: dict[str | None, list[str]] = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m.id)
    ids, seen, index = [root_id], {root_id}, 0
    while index < len(ids):
        for child in children.get(ids[index], ()):
            if child not in seen:
                seen.add(child)
                ids.append(child)
        index += 1
    return ids


def newest_leaf_below(survivors: Sequence[Message], start: str) -> str:
    """Follow the newest child down from `start` (what the web app shows by default)."""
    children: dict[str | None, list[Message]] = {}
    for m in _by_creation(survivors):
        children.setdefault(m.parent_id, []).append(m)
    current, seen = start, {start}
    while children.get(current):
        newest = children[current][-1].id
        if newest in seen:
            break
        seen.add(newest)
        current = newest
    return current


def leaf_after_deletion(
    messages: Sequence[Message], deleted: set[str], target: Message, current_leaf: str | None
) -> str | None:
    survivors = [m for m in messages if m.id not in deleted]
    if current_leaf is not None and any(m.id == current_leaf for m in survivors):
        return current_leaf
    siblings = _by_creation(
        [m for m in survivors if m.parent_id == target.parent_id and m.role == target.role]
    )
    if siblings:
        key = (target.created_at, target.id)
        before = [m for m in siblings if (m.created_at, m.id) < key]
        nearest = before[-1] if before else siblings[0]
        return newest_leaf_below(survivors, nearest.id)
    if target.parent_id is not None and any(m.id == target.parent_id for m in survivors):
        return target.parent_id
    roots = _by_creation([m for m in survivors if m.parent_id is None])
    return newest_leaf_below(survivors, roots[-1].id) if roots else None


class Messages:
    def __init__(self, db: Database, generations: Generations) -> None:
        self._db = db
        self._generations = generations

    async def delete(self, user_id: str, conversation_id: str, message_id: str) -> Deletion:
        for _ in range(ATTEMPTS):
            _, messages = await self._db.read(
                lambda s: load_conversation(s, user_id, conversation_id)
            )
            if not any(m.id == message_id for m in messages):
                raise NotFound("Message not found in this conversation.")
            doomed = set(subtree(messages, message_id))
            for m in messages:
                if m.id in doomed and m.role == "assistant" and self._live(m):
                    await self._generations.stop(user_id, m.id)
            try:
                return await self._db.write(
                    lambda s: self._delete(s, user_id, conversation_id, message_id)
                )
            except _StartedMeanwhile:
                continue
        raise Conflict("An answer below this message keeps being regenerated; try again.")

    def _live(self, message: Message) -> bool:
        return message.status in LIVE_STATUSES or self._generations.is_running(message.id)

    def _delete(
        self, s: DbSession, user_id: str, conversation_id: str, message_id: str
    ) -> Deletion:
        conversation, messages = load_conversation(s, user_id, conversation_id)
        target = next((m for m in messages if m.id == message_id), None)
        if target is None:
            raise NotFound("Message not found in this conversation.")
        ids = subtree(messages, message_id)
        doomed = set(ids)
        # Rows a dead instance left live are deleted; an answer running here is stopped first.
        if any(self._generations.is_running(i) for i in ids):
            raise _StartedMeanwhile
        leaf = leaf_after_deletion(messages, doomed, target, conversation.current_leaf_id)
        repo.delete_messages(s, conversation_id, ids)
        if leaf != conversation.current_leaf_id:
            repo.update_conversation(s, conversation_id, current_leaf_id=leaf)
        return Deletion(deleted=ids, current_leaf_id=leaf)
