"""The two reads people hit most — the sidebar's page of conversations and a conversation's
messages — as column-limited Core queries: plain rows, no ORM identity map or unit of work, and
only the columns the response carries (not provider state, import keys or finish times).

One statement per page and one per conversation (its messages with its current leaf), each on
an index: `ix_conversations_user_recent` (user_id, updated_at, id) for the page,
`ix_messages_conversation` (conversation_id, created_at) for the messages; plus one for the
conversation's attached files (`ix_attachments_conversation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import CONVERSATIONS, MESSAGES
from chatgate.db.repos import attachments
from chatgate.db.repos.conversations import _escape_like

# A result row of any width (Row is generic over its column types).
Row: TypeAlias = sa.Row[*tuple[Any, ...]]
_C = CONVERSATIONS.c
_M = MESSAGES.c

CONVERSATION_COLUMNS = (
    _C.id,
    _C.title,
    _C.created_at,
    _C.updated_at,
    _C.current_leaf_id,
    _C.settings,
)


def _iso(value: datetime | None) -> str | None:
    # As pydantic writes a UTC time: "Z", and a fraction of a second only when there is one.
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


class _IsoTime(sa.types.TypeDecorator[str]):
    """A stored UTC time read straight as the text the API sends. On SQLite the stored text
    ("2026-03-04 05:06:07.250000", as SQLAlchemy writes it) is rearranged without building a
    datetime: for a long conversation that was a fifth of the read's CPU. Other text, and
    PostgreSQL's datetimes, go the long way."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], str | None] | None:
        if dialect.name != "sqlite":
            return _iso
        parse = sa.DateTime().dialect_impl(dialect).result_processor(dialect, coltype)
        assert parse is not None

        def from_text(value: str | None) -> str | None:
            if value is None:
                return None
            if len(value) == 26 and value[10] == " " and value[19] == ".":
                if value.endswith(".000000"):
                    return f"{value[:10]}T{value[11:19]}Z"
                return f"{value[:10]}T{value[11:]}Z"
            return _iso(parse(value))

        return from_text


def _as_sent(column: sa.ColumnElement[datetime]) -> sa.ColumnElement[str]:
    return sa.type_coerce(column, _IsoTime()).label(column.key)


# Renderers may unpack message rows by position: keep this order, and add columns at the end.
MESSAGE_COLUMNS = (
    _M.id,
    _M.parent_id,
    _M.role,
    _M.content,
    _M.reasoning,
    _M.status,
    _M.model,
    _M.error_code,
    _M.error_message,
    _M.finish_reason,
    _M.prompt_tokens,
    _M.completion_tokens,
    _as_sent(_M.created_at),
    _as_sent(_M.updated_at),
    _M.parts,
)


def conversation_page(
    s: DbSession,
    user_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
    title_query: str | None = None,
) -> Sequence[Row]:
    """Newest activity first; `before` is the (updated_at, id) of the last row of the previous
    page. Same order and boundaries as repos.conversations.list_conversations."""
    query = sa.select(*CONVERSATION_COLUMNS).where(_C.user_id == user_id)
    if before is not None:
        updated_at, conversation_id = before
        # A row-value comparison, not (a < x OR a = x AND b < y): SQLite and PostgreSQL both
        # turn it into one range on the index instead of scanning the user's whole history.
        query = query.where(
            sa.tuple_(_C.updated_at, _C.id)
            < sa.tuple_(
                sa.literal(updated_at, _C.updated_at.type), sa.literal(conversation_id, _C.id.type)
            )
        )
    if title_query:
        pattern = f"%{_escape_like(title_query.lower())}%"
        query = query.where(sa.func.lower(_C.title).like(pattern, escape="\\"))
    query = query.order_by(_C.updated_at.desc(), _C.id.desc()).limit(limit)
    return s.execute(query).all()


def conversation(s: DbSession, user_id: str, conversation_id: str) -> Row | None:
    query = sa.select(*CONVERSATION_COLUMNS).where(_C.id == conversation_id, _C.user_id == user_id)
    return s.execute(query).one_or_none()


def conversation_messages(
    s: DbSession, user_id: str, conversation_id: str
) -> tuple[str | None, Sequence[Row], dict[str, list[Row]]] | None:
    """The conversation's current leaf and every message, oldest first, in one statement, and
    the messages' attached files (without their bytes) by message id, in one more on
    `ix_attachments_conversation`; None when this user has no such conversation.

    The conversation is the outer side of a LEFT JOIN, so a conversation without messages still
    yields one row (its message columns NULL) and ownership is checked by the same statement.
    """
    query = (
        sa.select(*MESSAGE_COLUMNS, _C.current_leaf_id)
        .select_from(CONVERSATIONS.outerjoin(MESSAGES, _M.conversation_id == _C.id))
        .where(_C.id == conversation_id, _C.user_id == user_id)
        .order_by(_M.created_at, _M.id)
    )
    rows = s.execute(query).all()
    if not rows:
        return None
    leaf: str | None = rows[0].current_leaf_id
    if rows[0].id is None:
        return leaf, [], {}
    return leaf, rows, attachments.listed_by_conversation(s, [conversation_id])
