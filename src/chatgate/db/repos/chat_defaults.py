"""The settings a person's new conversations start with (one row per person)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import ChatDefaults
from chatgate.db.repos.profiles import ensure_row


def get_chat_defaults(s: DbSession, user_id: str) -> dict[str, Any] | None:
    settings = s.execute(
        sa.select(ChatDefaults.settings).where(ChatDefaults.user_id == user_id)
    ).scalar_one_or_none()
    return dict(settings) if settings is not None else None


def put_chat_defaults(s: DbSession, user_id: str, settings: dict[str, Any], now: datetime) -> None:
    ensure_row(s, ChatDefaults, user_id, settings={}, updated_at=now)
    s.execute(
        sa.update(ChatDefaults)
        .where(ChatDefaults.user_id == user_id)
        .values(settings=settings, updated_at=now)
    )
