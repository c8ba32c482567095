"""Conversations and their messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import CONVERSATIONS, MESSAGES, insert_object, update_row
from chatgate.db.models import LIVE_STATUSES, AnswerStatus, Conversation, Message, Share, User

# The same test with the statuses inline: an expanding IN parameter cannot be used with
# executemany, and checkpoints update many rows with one statement.
_STILL_LIVE = MESSAGES.c.status.in_([sa.literal_column(f"'{status}'") for status in LIVE_STATUSES])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_conversations(
    s: DbSession,
    user_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
    title_query: str | None = None,
) -> Sequence[Conversation]:
    """Newest activity first; `before` is the (updated_at, id) of the last row of the previous page."""
    query = sa.select(Conversation).where(Conversation.user_id == user_id)
    if before is not None:
        updated_at, conversation_id = before
        query = query.where(
            sa.or_(
                Conversation.updated_at < updated_at,
                sa.and_(Conversation.updated_at == updated_at, Conversation.id < conversation_id),
            )
        )
    if title_query:
        pattern = f"%{_escape_like(title_query.lower())}%"
        query = query.where(sa.func.lower(Conversation.title).like(pattern, escape="\\"))
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit)
    return (s.execute(query)).scalars().all()


def get_conversation(s: DbSession, user_id: str, conversation_id: str) -> Conversation | None:
    result = s.execute(
        sa.select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    return result.scalar_one_or_none()


def add_conversation(s: DbSession, conversation: Conversation) -> Conversation:
    s.add(conversation)
    s.flush()
    return conversation


def update_conversation(s: DbSession, conversation_id: str, **values: Any) -> None:
    update_row(s, CONVERSATIONS, conversation_id, values)


def delete_conversation(s: DbSession, user_id: str, conversation_id: str) -> bool:
    # Messages first: SQLite enforces ON DELETE CASCADE only with foreign_keys=ON, which other
    # tools opening the file may not set.
    owned = sa.select(Conversation.id).where(
        Conversation.id == conversation_id, Conversation.user_id == user_id
    )
    s.execute(sa.delete(Message).where(Message.conversation_id.in_(owned)))
    result = s.execute(
        sa.delete(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_messages(s: DbSession, conversation_id: str, message_ids: Sequence[str]) -> int:
    """Delete these messages of the conversation (the caller chose a whole subtree)."""
    ids, deleted = list(message_ids), 0
    for start in range(0, len(ids), 500):  # bounded statements, whatever the size of the tree
        result = s.execute(
            sa.delete(Message).where(
                Message.conversation_id == conversation_id,
                Message.id.in_(ids[start : start + 500]),
            )
        )
        deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted


def list_messages(s: DbSession, conversation_id: str) -> Sequence[Message]:
    query = (
        sa.select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id)
    )
    return (s.execute(query)).scalars().all()


def get_message(s: DbSession, user_id: str, message_id: str) -> Message | None:
    result = s.execute(
        sa.select(Message).where(Message.id == message_id, Message.user_id == user_id)
    )
    return result.scalar_one_or_none()


def add_message(s: DbSession, message: Message) -> Message:
    insert_object(s, message)
    return message


def update_message(s: DbSession, message_id: str, **values: Any) -> None:
    # Core statements on the per-request path: the ORM's bookkeeping costs more than the write.
    update_row(s, MESSAGES, message_id, values)


def checkpoint_messages(s: DbSession, rows: list[dict[str, Any]]) -> None:
    """Many partial answers in one statement, each rewritten whole:
    [{"mid", "content", "reasoning", "status", "updated_at"}, ...].

    Only rows still live are touched: on PostgreSQL a checkpoint and the final save run on
    different connections, and a checkpoint committed late must not turn a finished answer back
    into a partial one.
    """
    _update_live(s, rows, sa.bindparam("content"), sa.bindparam("reasoning"))


def append_to_messages(s: DbSession, rows: list[dict[str, Any]]) -> None:
    """Many partial answers in one statement, each growing by what arrived since its last
    checkpoint: the rows of `checkpoint_messages`, where `content` and `reasoning` are the new
    pieces. Sending and binding only the new text keeps a checkpoint's cost per answer
    proportional to the last second, not to the whole answer.

    The caller must know the row holds exactly the text before the pieces (a failed or
    uncertain append is followed by `checkpoint_messages`, never retried as an append). Only
    rows still live are touched, as in `checkpoint_messages`.
    """
    table = MESSAGES
    _update_live(
        s,
        rows,
        table.c.content.concat(sa.bindparam("content", type_=sa.Text)),
        table.c.reasoning.concat(sa.bindparam("reasoning", type_=sa.Text)),
    )


def _update_live(s: DbSession, rows: list[dict[str, Any]], content: Any, reasoning: Any) -> None:
    if not rows:
        return
    table = MESSAGES
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("mid"), _STILL_LIVE)
        .values(
            content=content,
            reasoning=reasoning,
            status=sa.bindparam("status"),
            updated_at=sa.bindparam("updated_at"),
        )
    )
    s.execute(statement, rows)


def interrupt_live_messages(
    s: DbSession, now: datetime, *, ids: Sequence[str] | None = None
) -> int:
    """Rows a crash left queued or streaming become `interrupted`, keeping their partial text."""
    query = sa.update(Message).where(Message.status.in_(LIVE_STATUSES))
    if ids is not None:
        query = query.where(Message.id.in_(ids))
    result = s.execute(
        query.values(
            status=AnswerStatus.interrupted,
            updated_at=now,
            finished_at=now,
            error_code=AnswerStatus.interrupted.value,
            error_message="The server stopped while this answer was being written.",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def add_share(s: DbSession, share: Share) -> Share:
    s.add(share)
    s.flush()
    return share


def get_share_by_token(s: DbSession, token_hash: str) -> Share | None:
    """A live link: not revoked, and its owner's account is active (a disabled account publishes
    nothing)."""
    result = s.execute(
        sa.select(Share)
        .join(User, User.id == Share.user_id)
        .where(Share.token_hash == token_hash, Share.revoked_at.is_(None), User.status == "active")
    )
    return result.scalar_one_or_none()


def list_shares(s: DbSession, user_id: str, conversation_id: str) -> Sequence[Share]:
    query = (
        sa.select(Share)
        .where(
            Share.user_id == user_id,
            Share.conversation_id == conversation_id,
            Share.revoked_at.is_(None),
        )
        .order_by(Share.created_at.desc())
    )
    return (s.execute(query)).scalars().all()


def revoke_share(s: DbSession, user_id: str, share_id: str, now: datetime) -> bool:
    result = s.execute(
        sa.update(Share)
        .where(Share.id == share_id, Share.user_id == user_id, Share.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def live_messages(s: DbSession) -> Sequence[Message]:
    """Answers the database believes are being written (for recovery after a crash)."""
    query = sa.select(Message).where(Message.status.in_(LIVE_STATUSES))
    return (s.execute(query)).scalars().all()
