"""providers, credentials and model settings managed in the admin console

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chatgate.db.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = chatgate.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "upstream_providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("api_version", sa.String(length=40), nullable=True),
        sa.Column("proxy_sealed", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_upstream_providers_name")),
    )
    op.create_table(
        "upstream_credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=True),
        sa.Column("key_hint", sa.String(length=16), nullable=True),
        sa.Column("proxy_sealed", sa.Text(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["upstream_providers.id"],
            name=op.f("fk_upstream_credentials_provider_id_upstream_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_credentials")),
        sa.UniqueConstraint(
            "provider_id", "name", name=op.f("uq_upstream_credentials_provider_id_name")
        ),
    )
    op.create_table(
        "upstream_models",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("context_window", sa.Integer(), nullable=True),
        sa.Column("vision", sa.Boolean(), nullable=False),
        sa.Column("reasoning", sa.Boolean(), nullable=False),
        sa.Column("input_price", sa.Float(), nullable=True),
        sa.Column("output_price", sa.Float(), nullable=True),
        sa.Column("allowed_roles", sa.JSON(), nullable=True),
        sa.Column("allowed_users", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("provider", "model_id", name=op.f("pk_upstream_models")),
    )
    revision_table = op.create_table(
        "upstream_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_revision")),
    )
    # The one row exists from the start: the first two changes on two instances only UPDATE it.
    op.bulk_insert(revision_table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("upstream_revision")
    op.drop_table("upstream_models")
    op.drop_table("upstream_credentials")
    op.drop_table("upstream_providers")
