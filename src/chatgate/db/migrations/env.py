"""Alembic environment: runs with a synchronous connection handed over by chatgate.db.migrate."""

from __future__ import annotations

from alembic import context

from chatgate.db.models import Base

target_metadata = Base.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
