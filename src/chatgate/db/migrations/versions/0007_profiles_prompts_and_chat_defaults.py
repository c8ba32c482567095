"""profiles, prompt libraries, the shared prompt collection and new-chat defaults

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:22:38.370644
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chatgate.db.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shared_prompts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("translations", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", chatgate.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chatgate.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_prompts")),
    )
    op.create_table(
        "chat_defaults",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", chatgate.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_chat_defaults_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_chat_defaults")),
    )
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("avatar_emoji", sa.String(length=64), nullable=True),
        sa.Column("avatar_image", sa.LargeBinary(), nullable=True),
        sa.Column("avatar_type", sa.String(length=32), nullable=True),
        sa.Column("updated_at", chatgate.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", chatgate.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chatgate.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_prompts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_prompts_user_id_key")),
    )


def downgrade() -> None:
    op.drop_table("prompts")
    op.drop_table("profiles")
    op.drop_table("chat_defaults")
    op.drop_table("shared_prompts")
