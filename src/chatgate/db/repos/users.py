"""Users, sessions, API keys and invites."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import table_of, upsertable_insert
from chatgate.db.models import ApiKey, InstanceRecord, InstanceSetting, Invite, Session, User
from chatgate.ids import utcnow


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
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.role,
        _USERS.c.status,
        _USERS.c.is_anonymous,
        _USERS.c.created_at,
        _USERS.c.quota,
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


def get_api_key(s: DbSession, key_hash: str) -> tuple[ApiKey, User] | None:
    result = s.execute(
        sa.select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


def add_invite(s: DbSession, invite: Invite) -> Invite:
    s.add(invite)
    s.flush()
    return invite


def get_invite_by_hash(s: DbSession, code_hash: str, *, kind: str) -> Invite | None:
    result = s.execute(sa.select(Invite).where(Invite.code_hash == code_hash, Invite.kind == kind))
    return result.scalar_one_or_none()


def revoke_setup_tokens(s: DbSession, now: datetime) -> None:
    s.execute(
        sa.update(Invite)
        .where(Invite.kind == "setup", Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def list_invites(s: DbSession) -> Sequence[Invite]:
    query = sa.select(Invite).where(Invite.kind == "invite").order_by(Invite.created_at.desc())
    return (s.execute(query)).scalars().all()


def get_invite(s: DbSession, invite_id: str) -> Invite | None:
    invite = s.get(Invite, invite_id)
    return invite if invite is not None and invite.kind == "invite" else None


def get_instance_setting(s: DbSession, key: str) -> dict[str, Any] | None:
    row = s.get(InstanceSetting, key)
    return dict(row.value) if row is not None else None


def _insert_setting(
    s: DbSession, key: str, value: dict[str, Any]
) -> postgresql.Insert | sqlite.Insert:
    return upsertable_insert(s, InstanceSetting).values(key=key, value=value, updated_at=utcnow())


def _forget_loaded(s: DbSession, key: str) -> None:
    """A row this session loaded before the statement is stale now: read it again next time."""
    loaded = s.identity_map.get(sa.inspect(InstanceSetting).identity_key_from_primary_key((key,)))
    if loaded is not None:
        s.expire(loaded)


def put_instance_setting(s: DbSession, key: str, value: dict[str, Any]) -> None:
    """Write one setting in one statement, so instances starting together cannot collide."""
    statement = _insert_setting(s, key, value)
    s.execute(
        statement.on_conflict_do_update(
            index_elements=[InstanceSetting.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )
    _forget_loaded(s, key)


def claim_instance_setting(s: DbSession, key: str, value: dict[str, Any]) -> dict[str, Any]:
    """Store `value` unless another instance stored one first; return whichever is stored."""
    s.execute(_insert_setting(s, key, value).on_conflict_do_nothing())
    _forget_loaded(s, key)
    stored = get_instance_setting(s, key)
    assert stored is not None
    return stored


def delete_anonymous_sessions(s: DbSession) -> int:
    anonymous = sa.select(User.id).where(User.is_anonymous.is_(True))
    result = s.execute(sa.delete(Session).where(Session.user_id.in_(anonymous)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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


def set_user_quota(s: DbSession, user_id: str, quota: dict[str, Any] | None) -> bool:
    result = s.execute(sa.update(User).where(User.id == user_id).values(quota=quota))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def upsert_instance(s: DbSession, record: InstanceRecord) -> None:
    existing = s.get(InstanceRecord, record.id)
    if existing is None:
        s.add(record)
    else:
        existing.last_seen = record.last_seen
    s.flush()


def other_instances(s: DbSession, me: str, since: datetime) -> Sequence[InstanceRecord]:
    query = sa.select(InstanceRecord).where(
        InstanceRecord.id != me, InstanceRecord.last_seen >= since
    )
    return (s.execute(query)).scalars().all()


def delete_instance(s: DbSession, instance_id: str) -> None:
    s.execute(sa.delete(InstanceRecord).where(InstanceRecord.id == instance_id))
