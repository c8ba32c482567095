"""A large import runs in a process of its own.

Reading a 50 MB export is one `orjson.loads` and one pydantic validation, each a single C call of
half a second or more that holds the GIL: in a thread of the server it would stop every stream
for that long. A child process (`python -m chatgate.services.import_worker`) reads the spooled
file, parses it and writes the rows in short batches through its own `Database`; the server only
waits for a pipe. The child runs at a lower CPU priority (nice 10), so on a busy machine the
server's streams get the cores first; its memory (about six times the file while parsing) is
returned to the system when it exits, and imports run one at a time per server process
(`Transfer.import_file`).

The job arrives as JSON on stdin (never in argv: the database URL may hold a password); the
result is the last stdout line, after RESULT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import structlog

from chatgate.errors import ChatGateError
from chatgate.services.import_runner import RESULT

NICENESS = 10


async def _import(job: dict[str, Any]) -> dict[str, Any]:
    from chatgate.db.engine import Database
    from chatgate.services.importers import parse, zone_named
    from chatgate.services.transfer import Transfer

    parsed = parse(Path(job["path"]).read_bytes(), zone_named(job.get("time_zone")))
    db = Database(job["database_url"], pool_size=1, max_overflow=0)
    await db.start()
    try:
        known = job["known_models"]
        report = await Transfer(db).import_parsed(
            job["user_id"], parsed, known_models=set(known) if known is not None else None
        )
    finally:
        await db.close()
    return {"ok": True, "report": asdict(report)}


async def _main(job: dict[str, Any]) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await _import(job)
    except ChatGateError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}
    except asyncio.CancelledError:
        return {"ok": False, "code": "internal_error", "message": "The import was stopped."}
    except Exception:  # noqa: BLE001 - reported to the server, which logs it
        traceback.print_exc()
        return {
            "ok": False,
            "code": "internal_error",
            "message": "The import failed on the server; nothing was imported.",
        }


def main() -> None:
    # Batch work: when it competes with the server for a core, the server's streams win.
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    job = orjson.loads(sys.stdin.buffer.read())
    result = asyncio.run(_main(job))
    sys.stdout.buffer.write(RESULT + orjson.dumps(result) + b"\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
