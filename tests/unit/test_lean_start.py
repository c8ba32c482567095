"""A started server holds only what serving needs: the libraries of rarer work (migrating a
database, rendering an HTML export, reading an uploaded image, WebSockets, which no route uses)
load when that work first happens. Together they were ~13 MB of a 120 MB idle server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chatgate.db.migrate import upgrade

LOADED_LATER = {"alembic", "mako", "markdown_it", "latex2mathml", "PIL", "websockets", "wsproto"}

SERVE_AND_LIST = """
import os, signal, socket, sys
from chatgate.config import Settings
from chatgate.db.migrate import upgrade
from chatgate.server import lifecycle

settings = Settings(data_dir=sys.argv[1], host="127.0.0.1", log_level="warning",
                    shutdown_grace_seconds=0)
upgrade(settings.resolved_database_url)  # what `chatgate serve` does first

async def started(services):
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules})), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

listening = socket.create_server(("127.0.0.1", 0))
lifecycle.serve(settings, None, on_started=started, sockets=[listening])
"""


def test_a_server_started_on_a_current_database_leaves_rarer_libraries_unloaded(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    upgrade(f"sqlite:///{data / 'chatgate.db'}")
    run = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST, str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded = set(run.stdout.split())
    assert "uvicorn" in loaded and "sqlalchemy" in loaded, run.stderr[-2000:]
    assert loaded & LOADED_LATER == set()
