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
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import structlog

from chatgate.errors import ChatGateError, error_for_code

log = structlog.get_logger(__name__)
RESULT = b"CHATGATE-IMPORT-RESULT "
# A child that does not exit this long after being asked to stop is killed.
STOP_GRACE_SECONDS = 10.0
NICENESS = 10


async def run_in_child(
    database_url: str,
    user_id: str,
    path: Path,
    known_models: Collection[str] | None,
    time_zone: str | None = None,
) -> dict[str, Any]:
    """Import `path` for `user_id` in a child process; the ImportReport as a dict, or the
    ChatGateError the child met. `time_zone` is an IANA name (see importers.parse)."""
    job = orjson.dumps(
        {
            "database_url": database_url,
            "user_id": user_id,
            "path": str(path),
            "known_models": sorted(known_models) if known_models is not None else None,
            "time_zone": time_zone,
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatgate.services.import_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate(job)
    except BaseException:
        # The server is stopping (or the request was cancelled): the child undoes what it wrote.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        raise
    line = next((x for x in reversed(stdout.splitlines()) if x.startswith(RESULT)), None)
    if line is None:
        log.error(
            "import worker failed",
            returncode=process.returncode,
            stderr=stderr.decode(errors="replace")[-4000:],
        )
        raise ChatGateError("The import failed on the server; nothing was imported.")
    result: dict[str, Any] = orjson.loads(line[len(RESULT) :])
    if not result["ok"]:
        if result["code"] == "internal_error":
            log.error("import worker failed", error=result["message"])
        raise error_for_code(result["code"], result["message"])
    report: dict[str, Any] = result["report"]
    return report


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
