"""Schema migrations (Alembic), applied at startup and by `chatgate migrate`.

A new one, after changing `db/models.py`: `make migration m="what changed"`
(`python -m chatgate.db.migrate "what changed"`).

Migrations are numbered in order (`0001_….py`, each revision its number), so the head is the
highest number. A start on a database already at the head, which is most starts, reads its
revision and leaves Alembic unloaded: Alembic, Mako and the Pygments lexers Mako pulls in cost
~0.15 s of start-up and ~4 MB that the server would hold for the rest of its life.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from chatgate.db.engine import SQLITE_BUSY_TIMEOUT_MS, sync_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_NUMBERED = re.compile(r"^(\d{4})_\w+\.py$")


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _numbers() -> list[int]:
    """The migration files' numbers (`0001_….py`); each file's revision is its number."""
    versions = (MIGRATIONS / "versions").iterdir()
    return [int(m[1]) for p in versions if (m := _NUMBERED.match(p.name))]


def head_revision() -> str:
    """The newest migration's revision: the highest number among the migration files."""
    return f"{max(_numbers()):04d}"


def at_revision(engine: Engine, revision: str) -> bool:
    """Whether the database says it is at `revision` (False for a new, empty one)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table: never migrated
        return False
    return [row[0] for row in found] == [revision]


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (blocking: call it in a thread from async code)."""
    engine = create_engine(
        sync_url(url),
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if url.startswith("sqlite") else {},
    )
    if url.startswith("sqlite"):
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    try:
        if revision == "head" and at_revision(engine, head_revision()):
            return
        from alembic import command

        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def new_revision(message: str) -> Path:
    """Write the next numbered migration: what `db/models.py` has that the migrations lack,
    found by upgrading a scratch SQLite database and comparing. Returns the new file."""
    from alembic import command

    with tempfile.TemporaryDirectory(prefix="chatgate-migration-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.db'}"
        upgrade(url)
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                script = command.revision(
                    config, message=message, autogenerate=True, rev_id=_next_number()
                )
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def _next_number() -> str:
    return f"{max(_numbers(), default=0) + 1:04d}"


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].strip():
        sys.exit('usage: python -m chatgate.db.migrate "what changed"')
    sys.stdout.write(f"{new_revision(sys.argv[1].strip())}\n")
