"""`chatgate serve --workers N` refuses, in one sentence and before touching the data directory,
what cannot work: no shared Redis, or SQLite (one writer process at a time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.server import ChatGateProcess

CHATGATE = str(Path(sys.executable).parent / "chatgate")
REDIS = "redis://127.0.0.1:6379/13"  # never contacted: the refusal comes first


def refused(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    server = ChatGateProcess(tmp_path / "data", config=None, **env)
    return subprocess.run(
        [CHATGATE, "serve", "--workers", "2", "--port", "3999"],
        capture_output=True,
        text=True,
        env={**server.environment(), "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


def test_workers_without_redis_are_refused_in_one_sentence(tmp_path: Path) -> None:
    result = refused(tmp_path)
    assert result.returncode == 2
    assert "--workers needs a shared Redis" in result.stderr
    assert not (tmp_path / "data" / "chatgate.db").exists()  # refused before touching anything


def test_workers_on_sqlite_are_refused_pointing_at_postgresql(tmp_path: Path) -> None:
    result = refused(tmp_path, CHATGATE_REDIS_URL=REDIS)
    assert result.returncode == 2
    assert "--workers needs PostgreSQL" in result.stderr
    assert "SQLite lets one process write at a time" in result.stderr
    assert not (tmp_path / "data" / "chatgate.db").exists()
