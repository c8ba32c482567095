"""Personal API keys (stored as hashes) for the /v1 endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import ApiKey, User


def get_api_key(s: DbSession, key_hash: str) -> tuple[ApiKey, User] | None:
    result = s.execute(
        sa.select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


def add_api_key(s: DbSession, key: ApiKey) -> ApiKey:
    s.add(key)
    s.flush()
    return key


def list_api_keys(s: DbSession, user_id: str) -> Sequence[ApiKey]:
    query = sa.select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    return (s.execute(query)).scalars().all()


def revoke_api_key(s: DbSession, user_id: str, key_id: str, now: datetime) -> bool:
    result = s.execute(
        sa.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_user_api_keys(s: DbSession, user_id: str, now: datetime) -> int:
    """Revoke every key of the user still in force; returns how many."""
    result = s.execute(
        sa.update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def touch_api_key(s: DbSession, key_id: str, now: datetime) -> None:
    s.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
