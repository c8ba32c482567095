"""Attached files: stored with the owner's quota checked in the same transaction, linked to
their question when it is sent, read by owner, by conversation (one indexed query per load) or
by a share link's conversation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import table_of
from chatgate.db.models import Attachment, User
from chatgate.errors import StorageQuota

ATTACHMENTS = table_of(Attachment)
_A = ATTACHMENTS.c
# What a message's list shows (AttachmentOut), without the bytes or the extracted text.
LISTED = (
    _A.id,
    _A.name,
    _A.kind,
    _A.media_type,
    _A.size,
    _A.width,
    _A.height,
    _A.tokens,
    _A.note,
)


def unsent_by_hash(s: DbSession, user_id: str, sha256: str) -> Attachment | None:
    return s.execute(
        sa.select(Attachment).where(
            Attachment.user_id == user_id,
            Attachment.sha256 == sha256,
            Attachment.message_id.is_(None),
        )
    ).scalar_one_or_none()


def add_within_quota(s: DbSession, attachment: Attachment, quota: int) -> Attachment:
    """Store `attachment` unless it would take its owner's stored bytes over `quota`; the same
    bytes uploaded meanwhile (unsent) are returned instead.

    The owner's row is locked first (PostgreSQL: FOR UPDATE; SQLite has one writer), so two
    uploads of one person are checked one after the other and the quota is never overshot."""
    s.execute(sa.select(User.id).where(User.id == attachment.user_id).with_for_update())
    existing = unsent_by_hash(s, attachment.user_id, attachment.sha256)
    if existing is not None:
        return existing
    used = s.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0)).where(
            Attachment.user_id == attachment.user_id
        )
    ).scalar_one()
    if int(used) + attachment.size > quota:
        raise StorageQuota(
            f"Your stored files would exceed your storage quota of {quota // 1048576} MiB "
            f"({int(used) // 1048576} MiB used); delete conversations with files you no longer need."
        )
    s.add(attachment)
    s.flush()
    return attachment


def owned(s: DbSession, user_id: str, attachment_id: str) -> Attachment | None:
    return s.execute(
        sa.select(Attachment).where(Attachment.id == attachment_id, Attachment.user_id == user_id)
    ).scalar_one_or_none()


def in_conversation(s: DbSession, conversation_id: str, attachment_id: str) -> Attachment | None:
    """A file sent in this conversation (never an unsent upload)."""
    return s.execute(
        sa.select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.conversation_id == conversation_id,
            Attachment.message_id.is_not(None),
        )
    ).scalar_one_or_none()


def unsent(s: DbSession, user_id: str, ids: Sequence[str]) -> list[Attachment]:
    """Of `ids`, the owner's files not yet sent with a message, in the order of `ids`."""
    found = {
        a.id: a
        for a in s.execute(
            sa.select(Attachment).where(
                Attachment.id.in_(list(ids)),
                Attachment.user_id == user_id,
                Attachment.message_id.is_(None),
            )
        ).scalars()
    }
    return [found[i] for i in ids if i in found]


def for_context(
    s: DbSession, conversation_id: str, message_ids: Sequence[str]
) -> Sequence[Attachment]:
    """The files of these messages of the conversation (with their bytes and text), for a
    context."""
    return (
        s.execute(
            sa.select(Attachment)
            .where(
                Attachment.conversation_id == conversation_id,
                Attachment.message_id.in_(list(message_ids)),
            )
            .order_by(Attachment.message_id, Attachment.position)
        )
        .scalars()
        .all()
    )


def link(
    s: DbSession, user_id: str, ids: Sequence[str], message_id: str, conversation_id: str
) -> int:
    """Attach the owner's unsent files to their question; how many were still unsent."""
    linked = 0
    for position, attachment_id in enumerate(ids):
        result = s.execute(
            sa.update(Attachment)
            .where(
                Attachment.id == attachment_id,
                Attachment.user_id == user_id,
                Attachment.message_id.is_(None),
            )
            .values(message_id=message_id, conversation_id=conversation_id, position=position)
        )
        linked += result.rowcount  # type: ignore[attr-defined]
    return linked


def listed_by_conversation(s: DbSession, conversation_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Per message id, its files as listed (no bytes), in order: one query on
    `ix_attachments_conversation`."""
    rows = s.execute(
        sa.select(_A.message_id, *LISTED)
        .where(_A.conversation_id.in_(list(conversation_ids)), _A.message_id.is_not(None))
        .order_by(_A.message_id, _A.position)
    ).all()
    by_message: dict[str, list[Any]] = {}
    for row in rows:
        by_message.setdefault(row.message_id, []).append(row)
    return by_message


def data_by_conversation(s: DbSession, conversation_ids: Sequence[str]) -> dict[str, bytes]:
    """The images' bytes of these conversations (for the HTML export), by attachment id."""
    rows = s.execute(
        sa.select(_A.id, _A.data).where(
            _A.conversation_id.in_(list(conversation_ids)),
            _A.message_id.is_not(None),
            _A.kind == "image",
        )
    ).all()
    return {row.id: row.data for row in rows}


def delete_unsent(s: DbSession, user_id: str, attachment_id: str) -> bool:
    result = s.execute(
        sa.delete(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.user_id == user_id,
            Attachment.message_id.is_(None),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def sweep_unsent(s: DbSession, before: datetime) -> int:
    result = s.execute(
        sa.delete(Attachment).where(Attachment.message_id.is_(None), Attachment.created_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
