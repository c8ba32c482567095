"""User accounts: find, list, add, and set a quota."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import table_of
from chatgate.db.models import User

_USERS = table_of(User)
# What a request's principal needs of its user (`UserInfo.of` reads these names), selected
# beside a session's or an API key's columns on every request.
PRINCIPAL_COLUMNS = (
    _USERS.c.id,
    _USERS.c.username,
    _USERS.c.role,
    _USERS.c.status,
    _USERS.c.is_anonymous,
    _USERS.c.created_at,
    _USERS.c.quota,
)


def get_user(s: DbSession, user_id: str) -> User | None:
    return s.get(User, user_id)


def get_user_by_username(s: DbSession, username: str) -> User | None:
    result = s.execute(sa.select(User).where(User.username_key == username.casefold()))
    return result.scalar_one_or_none()


def count_admins(s: DbSession) -> int:
    result = s.execute(sa.select(sa.func.count()).select_from(User).where(User.role == "admin"))
    return int(result.scalar_one())


def list_users(s: DbSession, *, include_anonymous: bool = False) -> Sequence[User]:
    query = sa.select(User).order_by(User.created_at)
    if not include_anonymous:
        query = query.where(User.is_anonymous.is_(False))
    return (s.execute(query)).scalars().all()


def add_user(s: DbSession, user: User) -> User:
    s.add(user)
    s.flush()
    return user


def set_user_quota(s: DbSession, user_id: str, quota: dict[str, Any] | None) -> bool:
    result = s.execute(sa.update(User).where(User.id == user_id).values(quota=quota))
    return bool(result.rowcount)  # type: ignore[attr-defined]
