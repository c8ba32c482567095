"""Sign-in sessions, read with their user's columns on every request that carries a cookie."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import table_of
from chatgate.db.models import Session, User
from chatgate.db.repos.users import PRINCIPAL_COLUMNS


def create_session(s: DbSession, session: Session) -> None:
    s.add(session)
    s.flush()


_SESSIONS, _USERS = table_of(Session), table_of(User)
SessionRow = sa.Row[*tuple[Any, ...]]
# Every request with a cookie asks this: columns, not ORM objects (about a third of the cost).
_SESSION_WITH_USER = (
    sa.select(
        _SESSIONS.c.expires_at,
        _SESSIONS.c.last_used_at,
        *PRINCIPAL_COLUMNS,
    )
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.id == sa.bindparam("session_id"))
)


def get_session(s: DbSession, session_id: str) -> SessionRow | None:
    """The session's times and its user's columns (id, username, role, status, is_anonymous,
    created_at, quota) in one row, or None."""
    return s.execute(_SESSION_WITH_USER, {"session_id": session_id}).first()


def delete_session(s: DbSession, session_id: str) -> str | None:
    """Delete one session; returns its user id."""
    result = s.execute(
        sa.delete(Session).where(Session.id == session_id).returning(Session.user_id)
    )
    return result.scalar_one_or_none()


def delete_user_sessions(s: DbSession, user_id: str, *, keep: str | None = None) -> list[str]:
    query = sa.delete(Session).where(Session.user_id == user_id)
    if keep is not None:
        query = query.where(Session.id != keep)
    result = s.execute(query.returning(Session.id))
    return list(result.scalars().all())


def touch_session(s: DbSession, session_id: str, now: datetime, expires_at: datetime) -> None:
    s.execute(
        sa.update(Session)
        .where(Session.id == session_id)
        .values(last_used_at=now, expires_at=expires_at)
    )


def delete_expired_sessions(s: DbSession, now: datetime) -> int:
    result = s.execute(sa.delete(Session).where(Session.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_anonymous_sessions(s: DbSession) -> int:
    anonymous = sa.select(User.id).where(User.is_anonymous.is_(True))
    result = s.execute(sa.delete(Session).where(Session.user_id.in_(anonymous)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
