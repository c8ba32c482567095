"""Profiles: a person's display name, description and avatar (one row per person)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import upsertable_insert
from chatgate.db.models import Base, Profile

# Everything but the image bytes: what pages and messages show.
_SUMMARY = (
    Profile.display_name,
    Profile.description,
    Profile.avatar_emoji,
    Profile.avatar_type,
    Profile.updated_at,
)


def ensure_row(s: DbSession, model: type[Base], user_id: str, **values: Any) -> None:
    """Insert the person's row unless it exists (two first saves at once cannot collide)."""
    s.execute(
        upsertable_insert(s, model).values(user_id=user_id, **values).on_conflict_do_nothing()
    )


def get_profile(
    s: DbSession, user_id: str
) -> tuple[str, str, str | None, str | None, datetime] | None:
    """(display_name, description, avatar_emoji, avatar_type, updated_at), without the image."""
    row = s.execute(sa.select(*_SUMMARY).where(Profile.user_id == user_id)).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4])


def get_avatar(s: DbSession, user_id: str) -> tuple[bytes, str] | None:
    row = s.execute(
        sa.select(Profile.avatar_image, Profile.avatar_type).where(Profile.user_id == user_id)
    ).one_or_none()
    if row is None or row[0] is None or row[1] is None:
        return None
    return bytes(row[0]), str(row[1])


def put_profile(s: DbSession, user_id: str, now: datetime, **values: Any) -> None:
    """Set some columns of the person's profile, creating the row the first time."""
    ensure_row(s, Profile, user_id, display_name="", description="", updated_at=now)
    s.execute(sa.update(Profile).where(Profile.user_id == user_id).values(**values, updated_at=now))
