"""Instance-wide state kept in the database (fingerprints, the admin's run-time choices): one
JSON value per key, shared by every instance."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import upsertable_insert
from chatgate.db.models import InstanceSetting
from chatgate.ids import utcnow


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
