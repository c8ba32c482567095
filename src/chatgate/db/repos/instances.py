"""Running ChatGate processes on this database: one row each, kept fresh by its heartbeat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import InstanceRecord


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
