"""The migrations build exactly the schema the models describe (on SQLite and PostgreSQL), so
a model change without its migration, or a migration that drifts, fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from chatgate.db.engine import sync_url
from chatgate.db.models import Base


def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "run `alembic revision --autogenerate` for these differences"
