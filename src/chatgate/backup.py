"""Consistent online copies of the database, and restoring one.

SQLite: `VACUUM INTO` reads one snapshot (WAL lets the server keep writing meanwhile), so the
copy holds every transaction committed before it began; it is checked with `PRAGMA
integrity_check`. PostgreSQL: use `pg_dump`, which does the same job better than we could.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from chatgate.ids import utcnow


class BackupError(Exception):
    pass


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    return Path(parsed.database)


def pg_dump_hint(url: str) -> str:
    safe = make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)
    return (
        "This server uses PostgreSQL. Back it up with pg_dump, which takes a consistent snapshot "
        f"while ChatGate runs:\n    pg_dump --format=custom --file=chatgate.dump '{safe}'\n"
        f"and restore with:\n    pg_restore --clean --if-exists --dbname='{safe}' chatgate.dump"
    )


def check(path: Path) -> None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            result = db.execute("PRAGMA integrity_check").fetchone()
            db.execute("SELECT count(*) FROM messages").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a usable ChatGate database: {exc}") from exc
    if result != ("ok",):
        raise BackupError(f"{path} failed the integrity check: {result}")


def backup(database: Path, target: Path) -> None:
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name.")
    if not database.exists():
        raise BackupError(f"There is no database at {database}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database, timeout=30) as db:
        db.execute("VACUUM INTO ?", (str(target),))
    check(target)


def restore(database: Path, source: Path) -> Path | None:
    """Replace the database with `source`; the previous one is kept next to it. Returns its path."""
    check(source)
    kept = None
    if database.exists():
        kept = database.with_name(f"{database.name}.before-restore-{utcnow():%Y%m%d-%H%M%S}")
        with sqlite3.connect(database, timeout=30) as current, sqlite3.connect(kept) as copy:
            current.backup(copy)
    database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(database, timeout=30) as dst:
        src.backup(dst)
    for suffix in ("-wal", "-shm"):
        stale = database.with_name(database.name + suffix)
        if stale.exists() and stale.stat().st_size == 0:
            stale.unlink()
    check(database)
    return kept
