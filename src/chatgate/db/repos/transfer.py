"""Bulk rows for history import and export: plain Core statements, no ORM objects (an import of
tens of thousands of messages would spend most of its time building and flushing them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import CONVERSATIONS, MESSAGES

CONVERSATION_COLUMNS = (
    "id",
    "user_id",
    "title",
    "settings",
    "current_leaf_id",
    "created_at",
    "updated_at",
    "import_source",
    "import_key",
    "import_digest",
)
MESSAGE_COLUMNS = (
    "id",
    "conversation_id",
    "user_id",
    "parent_id",
    "role",
    "content",
    "reasoning",
    "status",
    "model",
    "error_code",
    "error_message",
    "created_at",
    "updated_at",
    "finished_at",
)


def insert(s: DbSession, *, c: Sequence[dict[str, Any]], m: Sequence[dict[str, Any]]) -> None:
    """Conversation rows `c` and message rows `m`, with exactly CONVERSATION_COLUMNS and
    MESSAGE_COLUMNS as keys."""
    if c:
        s.execute(sa.insert(CONVERSATIONS), list(c))
    if m:
        s.execute(sa.insert(MESSAGES), list(m))


def already_imported(
    s: DbSession, user_id: str, sources: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """Which of these (source, id at the source) the user already has: the conversation id and
    the digest of what was imported. A ChatGate conversation id also matches the user's own
    conversation with that id (their export, imported back)."""
    found: dict[tuple[str, str], tuple[str, str | None]] = {}
    wanted = set(sources)
    keys = sorted({key for _, key in wanted})
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = s.execute(
            sa.select(
                CONVERSATIONS.c.id,
                CONVERSATIONS.c.import_source,
                CONVERSATIONS.c.import_key,
                CONVERSATIONS.c.import_digest,
            ).where(CONVERSATIONS.c.user_id == user_id, CONVERSATIONS.c.import_key.in_(chunk))
        )
        for row in rows:
            if (row.import_source, row.import_key) in wanted:
                found[(row.import_source, row.import_key)] = (row.id, row.import_digest)
        own = [key for key in chunk if ("chatgate", key) in wanted]
        if own:
            for cid in s.execute(
                sa.select(CONVERSATIONS.c.id).where(
                    CONVERSATIONS.c.user_id == user_id, CONVERSATIONS.c.id.in_(own)
                )
            ).scalars():
                found.setdefault(("chatgate", cid), (cid, None))
    return found


def delete(s: DbSession, user_id: str, conversation_ids: Sequence[str]) -> None:
    """Undo an import that failed half-way: its conversations and their messages."""
    for start in range(0, len(conversation_ids), 500):
        ids = list(conversation_ids[start : start + 500])
        s.execute(
            sa.delete(MESSAGES).where(
                MESSAGES.c.user_id == user_id, MESSAGES.c.conversation_id.in_(ids)
            )
        )
        s.execute(
            sa.delete(CONVERSATIONS).where(
                CONVERSATIONS.c.user_id == user_id, CONVERSATIONS.c.id.in_(ids)
            )
        )


def conversation_ids(s: DbSession, user_id: str, only: Sequence[str] | None = None) -> list[str]:
    """The user's conversations (or those of `only` that are theirs), newest activity first."""
    query = sa.select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.user_id == user_id)
    if only is not None:
        query = query.where(CONVERSATIONS.c.id.in_(list(only)))
    query = query.order_by(CONVERSATIONS.c.updated_at.desc(), CONVERSATIONS.c.id.desc())
    return list(s.execute(query).scalars())


def load(s: DbSession, user_id: str, ids: Sequence[str]) -> list[tuple[Row[Any], list[Row[Any]]]]:
    """These conversations (in this order; missing ones left out) with their messages, oldest
    first."""
    conversations = {
        row.id: row
        for row in s.execute(
            sa.select(CONVERSATIONS).where(
                CONVERSATIONS.c.user_id == user_id, CONVERSATIONS.c.id.in_(list(ids))
            )
        )
    }
    messages: dict[str, list[Row[Any]]] = {cid: [] for cid in conversations}
    query = (
        sa.select(MESSAGES)
        .where(MESSAGES.c.user_id == user_id, MESSAGES.c.conversation_id.in_(list(conversations)))
        .order_by(MESSAGES.c.conversation_id, MESSAGES.c.created_at, MESSAGES.c.id)
    )
    for row in s.execute(query):
        messages[row.conversation_id].append(row)
    return [(conversations[cid], messages[cid]) for cid in ids if cid in conversations]
