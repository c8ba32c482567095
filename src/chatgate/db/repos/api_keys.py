"""Personal API keys (stored as hashes) for the /v1 endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import table_of
from chatgate.db.models import ApiKey, User
from chatgate.db.repos.users import PRINCIPAL_COLUMNS

_KEYS, _USERS = table_of(ApiKey), table_of(User)
KeyRow = sa.Row[*tuple[Any, ...]]
# Every /v1 request asks this: columns, not ORM objects.
_KEY_WITH_USER = (
    sa.select(
        _KEYS.c.id.label("key_id"),
        _KEYS.c.revoked_at,
        _KEYS.c.last_used_at,
        *PRINCIPAL_COLUMNS,
    )
    .join_from(_KEYS, _USERS, _USERS.c.id == _KEYS.c.user_id)
    .where(_KEYS.c.key_hash == sa.bindparam("key_hash"))
)


def get_api_key(s: DbSession, key_hash: str) -> KeyRow | None:
    """The key's id, revoked_at and last_used_at (as `key_id`, …) and its user's columns (id,
    username, role, status, is_anonymous, created_at, quota) in one row, or None."""
    return s.execute(_KEY_WITH_USER, {"key_hash": key_hash}).first()


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
