"""where an imported conversation came from, so importing a file again adds nothing

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX: no copy of the table, even on SQLite.
    op.add_column("conversations", sa.Column("import_source", sa.String(length=16), nullable=True))
    op.add_column("conversations", sa.Column("import_key", sa.String(length=200), nullable=True))
    op.add_column("conversations", sa.Column("import_digest", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_conversations_user_import",
        "conversations",
        ["user_id", "import_source", "import_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_user_import", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("import_digest")
        batch.drop_column("import_key")
        batch.drop_column("import_source")
