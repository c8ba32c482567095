"""The data directory and the SQLite database (password hashes, conversations) are private to the
account ChatGate runs as: the directory 0700, the database and its -wal and -shm files 0600,
whatever the umask, whether the CLI or the server creates them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from chatgate.db.engine import Database
from chatgate.db.migrate import upgrade
from tests.unit.test_cli import run


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield
    os.umask(previous)


def test_the_cli_creates_a_private_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = run(
        ["user", "add", "root", "--admin", "--password-stdin"],
        tmp_path,
        stdin="a long passphrase\n",
    )
    assert added.returncode == 0, added.stderr
    assert _mode(data) == 0o700
    assert _mode(data / "chatgate.db") == 0o600
    assert _mode(data / "secret_key") == 0o600
    for leftover in data.iterdir():
        assert _mode(leftover) & 0o077 == 0, f"{leftover.name} is {oct(_mode(leftover))}"


async def test_the_server_creates_the_database_and_its_wal_and_shm_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    url = f"sqlite:///{data / 'chatgate.db'}"
    db = Database(url)
    await db.start()
    try:
        await db.write(lambda s: s.execute(sa.text("CREATE TABLE t (x INTEGER)")))
        await db.write(lambda s: s.execute(sa.text("INSERT INTO t VALUES (1)")))
        assert await db.read(lambda s: s.execute(sa.text("SELECT x FROM t")).scalar()) == 1
        files = {p.name: _mode(p) for p in data.iterdir()}
        assert {"chatgate.db", "chatgate.db-wal", "chatgate.db-shm"} <= set(files)
        assert set(files.values()) == {0o600}, files
        assert _mode(data) == 0o700
    finally:
        await db.close()


def test_migrating_a_fresh_path_after_prepare_keeps_it_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(["migrate"], tmp_path)
    assert _mode(data) == 0o700
    assert _mode(data / "chatgate.db") == 0o600
    upgrade(f"sqlite:///{data / 'chatgate.db'}")  # a second run changes nothing
    assert _mode(data / "chatgate.db") == 0o600
