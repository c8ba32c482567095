"""Plain SQL-expression (Core) helpers for the per-request path, where the ORM's unit of work
costs more than the write itself."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from chatgate.db.models import Base, Conversation, Message, UsageRecord


def table_of(model: type[Base]) -> sa.Table:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


CONVERSATIONS = table_of(Conversation)
MESSAGES = table_of(Message)
USAGE = table_of(UsageRecord)
# Built once: `insert(table).values(**row)` builds and hashes a new statement per row (about
# 170 µs of a 240 µs insert); executing one statement with the row as parameters reuses the
# compiled form (cached per set of columns).
_INSERTS: dict[sa.Table, sa.Insert] = {}
_UPDATES: dict[sa.Table, sa.Update] = {}
# The primary key's parameter: a name no column has (a column's own name is reserved for SET).
_ROW_ID = "_row_id"


def upsertable_insert(s: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the dialect of `s`'s database: one statement,
    so two instances (or requests) writing the same key at once cannot collide."""
    if s.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_object(s: Session, obj: Base) -> None:
    """INSERT one mapped object's column values as they are, Python-side defaults filled in."""
    table = table_of(type(obj))
    values: dict[str, Any] = {}
    for column in table.columns:
        value = getattr(obj, column.key, None)
        default: Any = column.default
        if value is None and default is not None:
            # SQLAlchemy wraps zero-argument default functions to take an execution context.
            value = (
                default.arg(None)
                if default.is_callable
                else default.arg
                if default.is_scalar
                else None
            )
            setattr(obj, column.key, value)
        if value is not None:
            values[column.key] = value
    insert = _INSERTS.get(table)
    if insert is None:
        insert = _INSERTS[table] = sa.insert(table)
    s.execute(insert, values)


def update_row(s: Session, table: sa.Table, row_id: str, values: dict[str, Any]) -> None:
    """UPDATE one row by its `id`: the SET clause is the keys of `values` (one prebuilt statement
    per table, compiled once per set of columns)."""
    update = _UPDATES.get(table)
    if update is None:
        update = _UPDATES[table] = sa.update(table).where(table.c.id == sa.bindparam(_ROW_ID))
    s.execute(update, {**values, _ROW_ID: row_id})
