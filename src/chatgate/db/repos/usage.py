"""The usage ledger: one row per request, its tokens and cost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import USAGE, insert_object, table_of, update_row
from chatgate.db.models import LIVE_STATUSES, AnswerStatus, UsageRecord, User


def add_usage(s: DbSession, record: UsageRecord) -> None:
    insert_object(s, record)


def finish_usage(s: DbSession, record_id: str, **values: Any) -> None:
    update_row(s, USAGE, record_id, values)


def interrupt_live_usage(s: DbSession, now: datetime) -> None:
    s.execute(
        sa.update(UsageRecord)
        .where(UsageRecord.status.in_(LIVE_STATUSES))
        .values(status=AnswerStatus.interrupted, finished_at=now)
    )


def count_since(s: DbSession, user_id: str, since: datetime) -> tuple[int, datetime | None]:
    """Requests since `since`, and the oldest of them (when its hour ends, one slot frees)."""
    query = sa.select(sa.func.count(), sa.func.min(UsageRecord.created_at)).where(
        UsageRecord.user_id == user_id, UsageRecord.created_at >= since
    )
    count, oldest = (s.execute(query)).one()
    return int(count), oldest


def tokens_since(s: DbSession, user_id: str, since: datetime) -> int:
    """Tokens spent since `since`: real counts of finished requests, reservations of running ones."""
    spent = sa.case(
        (UsageRecord.status.in_(LIVE_STATUSES), UsageRecord.reserved_tokens),
        else_=UsageRecord.prompt_tokens + UsageRecord.completion_tokens,
    )
    query = sa.select(sa.func.coalesce(sa.func.sum(spent), 0)).where(
        UsageRecord.user_id == user_id, UsageRecord.created_at >= since
    )
    return int((s.execute(query)).scalar_one())


_USERS = table_of(User)
_LOCK_USER = (
    sa.select(_USERS.c.id, _USERS.c.role, _USERS.c.quota, _USERS.c.username)
    .where(_USERS.c.id == sa.bindparam("user_id"))
    .with_for_update()
)


def lock_user(s: DbSession, user_id: str) -> sa.Row[*tuple[Any, ...]] | None:
    """The user's id, role, quota and username, the row locked until the transaction ends
    (PostgreSQL): admissions of one person are decided one at a time on every instance. SQLite has one writer
    and needs no lock. Columns, not an ORM object: every question asks this."""
    return s.execute(_LOCK_USER, {"user_id": user_id}).first()


def live_count(s: DbSession, user_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        UsageRecord.user_id == user_id, UsageRecord.status.in_(LIVE_STATUSES)
    )
    return int((s.execute(query)).scalar_one())


def summary(
    s: DbSession, *, since_day: str, until_day: str, group: Sequence[str]
) -> list[dict[str, Any]]:
    """Totals between two UTC days (inclusive), grouped by any of day, user, model."""
    columns = {"day": UsageRecord.day, "model": UsageRecord.model, "user": User.username}
    keys = [columns[g] for g in group]
    query = (
        sa.select(
            *keys,
            sa.func.count().label("requests"),
            sa.func.sum(UsageRecord.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(UsageRecord.completion_tokens).label("completion_tokens"),
            sa.func.sum(UsageRecord.cost_micro_usd).label("cost_micro_usd"),
        )
        .join(User, User.id == UsageRecord.user_id)
        .where(UsageRecord.day >= since_day, UsageRecord.day <= until_day)
        .group_by(*keys)
        .order_by(*keys)
    )
    rows = []
    for row in (s.execute(query)).all():
        item = {g: row[i] for i, g in enumerate(group)}
        item.update(
            requests=int(row.requests),
            prompt_tokens=int(row.prompt_tokens or 0),
            completion_tokens=int(row.completion_tokens or 0),
            cost_usd=round(int(row.cost_micro_usd or 0) / 1_000_000, 6),
        )
        rows.append(item)
    return rows


def live_api_usage_ids(s: DbSession) -> list[str]:
    """Running /v1 requests (no message row; the ledger row's id is the generation's)."""
    query = sa.select(UsageRecord.id).where(
        UsageRecord.status.in_(LIVE_STATUSES), UsageRecord.message_id.is_(None)
    )
    return list(s.execute(query).scalars())


def interrupt_usage_of(s: DbSession, generation_ids: Sequence[str], now: datetime) -> None:
    """End the ledger rows of these generations (chat answers by message, /v1 by row id)."""
    s.execute(
        sa.update(UsageRecord)
        .where(
            sa.or_(UsageRecord.message_id.in_(generation_ids), UsageRecord.id.in_(generation_ids)),
            UsageRecord.status.in_(LIVE_STATUSES),
        )
        .values(status=AnswerStatus.interrupted, finished_at=now)
    )
