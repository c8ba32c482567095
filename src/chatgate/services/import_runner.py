"""The server's side of a large import: start the child process (chatgate.services.import_worker,
which says why there is one), hand it the job, and turn its last line into a report or an error.

Apart from the child, so the child may import the import code (services.transfer) while that code
starts children through this module: no import cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import orjson
import structlog

from chatgate.errors import ChatGateError, error_for_code

log = structlog.get_logger(__name__)
RESULT = b"CHATGATE-IMPORT-RESULT "
# A child that does not exit this long after being asked to stop is killed.
STOP_GRACE_SECONDS = 10.0


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
