"""A start on a database at the head revision skips Alembic; any other database is migrated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from chatgate.db.migrate import alembic_config, at_revision, head_revision, upgrade


def _revision(url: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [
                r[0] for r in connection.execute(text("SELECT version_num FROM alembic_version"))
            ]
    finally:
        engine.dispose()


def test_the_newest_numbered_file_is_alembics_head() -> None:
    # If a migration ever stops following the numbering, the shortcut would skip it: this fails.
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_new_database_and_one_behind_are_brought_to_the_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = create_engine(url, poolclass=NullPool)
    assert not at_revision(engine, head_revision())  # empty: no alembic_version table
    upgrade(url, "0011")
    assert _revision(url) == ["0011"]
    assert not at_revision(engine, head_revision())
    upgrade(url)
    assert _revision(url) == [head_revision()]
    assert at_revision(engine, head_revision())
    engine.dispose()


def test_a_start_on_a_database_at_the_head_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    upgrade(url)
    probe = (
        "import sys; from chatgate.db.migrate import upgrade; "
        f"upgrade({url!r}); print(sorted({{m.split('.')[0] for m in sys.modules}} & "
        "{'alembic', 'mako'}))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
