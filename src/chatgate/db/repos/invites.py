"""Invite links and the one-time setup link (both stored as hashes of their code)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import Invite


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
