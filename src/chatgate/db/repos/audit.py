"""The audit log: administrators' security-relevant actions, newest first."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import AuditEntry, User


def add_audit(s: DbSession, entry: AuditEntry) -> None:
    s.add(entry)
    s.flush()


def list_audit(s: DbSession, limit: int) -> Sequence[tuple[AuditEntry, str | None]]:
    actor = sa.orm.aliased(User)
    query = (
        sa.select(AuditEntry, actor.username)
        .outerjoin(actor, actor.id == AuditEntry.actor_id)
        .order_by(AuditEntry.created_at.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (s.execute(query)).all()]
