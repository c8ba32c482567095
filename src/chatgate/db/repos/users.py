"""Users, sessions, API keys and invites."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from chatgate.db.models import ApiKey, InstanceRecord, InstanceSetting, Invite, Session, User


async def get_user(s: AsyncSession, user_id: str) -> User | None:
    return await s.get(User, user_id)


async def get_user_by_username(s: AsyncSession, username: str) -> User | None:
    result = await s.execute(sa.select(User).where(User.username_key == username.casefold()))
    return result.scalar_one_or_none()


async def count_admins(s: AsyncSession) -> int:
    result = await s.execute(
        sa.select(sa.func.count()).select_from(User).where(User.role == "admin")
    )
    return int(result.scalar_one())


async def list_users(s: AsyncSession, *, include_anonymous: bool = False) -> Sequence[User]:
    query = sa.select(User).order_by(User.created_at)
    if not include_anonymous:
        query = query.where(User.is_anonymous.is_(False))
    return (await s.execute(query)).scalars().all()


async def add_user(s: AsyncSession, user: User) -> User:
    s.add(user)
    await s.flush()
    return user


async def create_session(s: AsyncSession, session: Session) -> None:
    s.add(session)
    await s.flush()


async def get_session(s: AsyncSession, session_id: str) -> tuple[Session, User] | None:
    result = await s.execute(
        sa.select(Session, User)
        .join(User, User.id == Session.user_id)
        .where(Session.id == session_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def delete_session(s: AsyncSession, session_id: str) -> str | None:
    """Delete one session; returns its user id."""
    result = await s.execute(
        sa.delete(Session).where(Session.id == session_id).returning(Session.user_id)
    )
    return result.scalar_one_or_none()


async def delete_user_sessions(
    s: AsyncSession, user_id: str, *, keep: str | None = None
) -> list[str]:
    query = sa.delete(Session).where(Session.user_id == user_id)
    if keep is not None:
        query = query.where(Session.id != keep)
    result = await s.execute(query.returning(Session.id))
    return list(result.scalars().all())


async def touch_session(
    s: AsyncSession, session_id: str, now: datetime, expires_at: datetime
) -> None:
    await s.execute(
        sa.update(Session)
        .where(Session.id == session_id)
        .values(last_used_at=now, expires_at=expires_at)
    )


async def delete_expired_sessions(s: AsyncSession, now: datetime) -> int:
    result = await s.execute(sa.delete(Session).where(Session.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def get_api_key(s: AsyncSession, key_hash: str) -> tuple[ApiKey, User] | None:
    result = await s.execute(
        sa.select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def add_invite(s: AsyncSession, invite: Invite) -> Invite:
    s.add(invite)
    await s.flush()
    return invite


async def get_invite_by_hash(s: AsyncSession, code_hash: str, *, kind: str) -> Invite | None:
    result = await s.execute(
        sa.select(Invite).where(Invite.code_hash == code_hash, Invite.kind == kind)
    )
    return result.scalar_one_or_none()


async def revoke_setup_tokens(s: AsyncSession, now: datetime) -> None:
    await s.execute(
        sa.update(Invite)
        .where(Invite.kind == "setup", Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def list_invites(s: AsyncSession) -> Sequence[Invite]:
    query = sa.select(Invite).where(Invite.kind == "invite").order_by(Invite.created_at.desc())
    return (await s.execute(query)).scalars().all()


async def get_invite(s: AsyncSession, invite_id: str) -> Invite | None:
    invite = await s.get(Invite, invite_id)
    return invite if invite is not None and invite.kind == "invite" else None


async def get_instance_setting(s: AsyncSession, key: str) -> dict[str, Any] | None:
    row = await s.get(InstanceSetting, key)
    return dict(row.value) if row is not None else None


async def put_instance_setting(s: AsyncSession, key: str, value: dict[str, Any]) -> None:
    row = await s.get(InstanceSetting, key)
    if row is None:
        s.add(InstanceSetting(key=key, value=value))
    else:
        row.value = value
    await s.flush()


async def delete_anonymous_sessions(s: AsyncSession) -> int:
    anonymous = sa.select(User.id).where(User.is_anonymous.is_(True))
    result = await s.execute(sa.delete(Session).where(Session.user_id.in_(anonymous)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def add_api_key(s: AsyncSession, key: ApiKey) -> ApiKey:
    s.add(key)
    await s.flush()
    return key


async def list_api_keys(s: AsyncSession, user_id: str) -> Sequence[ApiKey]:
    query = sa.select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    return (await s.execute(query)).scalars().all()


async def revoke_api_key(s: AsyncSession, user_id: str, key_id: str, now: datetime) -> bool:
    result = await s.execute(
        sa.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch_api_key(s: AsyncSession, key_id: str, now: datetime) -> None:
    await s.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


async def set_user_quota(s: AsyncSession, user_id: str, quota: dict[str, Any] | None) -> bool:
    result = await s.execute(sa.update(User).where(User.id == user_id).values(quota=quota))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def upsert_instance(s: AsyncSession, record: InstanceRecord) -> None:
    existing = await s.get(InstanceRecord, record.id)
    if existing is None:
        s.add(record)
    else:
        existing.last_seen = record.last_seen
    await s.flush()


async def other_instances(s: AsyncSession, me: str, since: datetime) -> Sequence[InstanceRecord]:
    query = sa.select(InstanceRecord).where(
        InstanceRecord.id != me, InstanceRecord.last_seen >= since
    )
    return (await s.execute(query)).scalars().all()


async def delete_instance(s: AsyncSession, instance_id: str) -> None:
    await s.execute(sa.delete(InstanceRecord).where(InstanceRecord.id == instance_id))
