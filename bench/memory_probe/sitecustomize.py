"""The memory probe: what a running server's memory is made of, sampled while the benchmark runs.

Loaded into `chatgate serve` through `PYTHONPATH` (never shipped with ChatGate):

    python -m bench --steps 1,600 --window 15 --no-profile --no-docs \\
        --chatgate-env PYTHONPATH=bench/memory_probe --chatgate-env BENCH_MEMORY_LOG=/tmp/memory.log
    python -m bench.memory /tmp/memory.log

Every `BENCH_MEMORY_EVERY` seconds (10 by default) a thread writes one JSON line: the process's
RSS and PSS; Python's small-object allocator (its arenas, the bytes in blocks in use and free
inside them); the C allocator (`mallinfo2`: bytes in use and free in its heaps, and mapped
directly); and the garbage collector's objects by type. A sample holds the GIL for the few
milliseconds the census takes.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
from typing import Any

TOP_TYPES = 25


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _process_memory() -> dict[str, int]:
    wanted = {"Rss": "rss", "Pss": "pss", "Anonymous": "anonymous"}
    found: dict[str, int] = {}
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            key, _, rest = line.partition(":")
            if key in wanted:
                found[wanted[key]] = int(rest.split()[0]) * 1024
    return found


def _python_allocator() -> dict[str, int]:
    """`sys._debugmallocstats` writes to the C stderr; read it back from a file."""
    with tempfile.TemporaryFile(mode="w+") as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read()
    fields = {
        "arenas": r"# arenas allocated current\s*=\s*([\d,]+)",
        "in_blocks": r"# bytes in allocated blocks\s*=\s*([\d,]+)",
        "free_blocks": r"# bytes in available blocks\s*=\s*([\d,]+)",
        "unused_pools": r"(\d+) unused pools \* \d+ bytes",
        "arena_bytes": r"Total\s*=\s*([\d,]+)",
    }
    stats: dict[str, int] = {}
    for name, pattern in fields.items():
        match = re.search(pattern, text)
        if match:
            stats[name] = int(match.group(1).replace(",", ""))
    return stats


@functools.cache
def _mallinfo2() -> Any | None:
    # Looked up once: find_library runs `ldconfig -p` in a subprocess, and this samples every
    # few seconds inside the server it measures.
    library = ctypes.util.find_library("c")
    mallinfo2 = getattr(ctypes.CDLL(library), "mallinfo2", None) if library else None
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
    return mallinfo2


def _c_allocator() -> dict[str, int]:
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return {}
    info = mallinfo2()
    return {
        "heap": info.arena,
        "in_use": info.uordblks,
        "free": info.fordblks,
        "mapped": info.hblkhd,
    }


def _objects(top: int) -> dict[str, Any]:
    objects = gc.get_objects()
    kinds = collections.Counter(type(o).__qualname__ for o in objects)
    return {
        "count": len(objects),
        "frozen": gc.get_freeze_count(),
        "top": kinds.most_common(top),
    }


def _sample(started: float, top: int = TOP_TYPES) -> dict[str, Any]:
    return {
        "t": round(time.monotonic() - started, 1),
        "process": _process_memory(),
        "python": _python_allocator(),
        "c": _c_allocator(),
        "objects": _objects(top),
    }


def _run(path: str, every: float) -> None:
    started = time.monotonic()
    with open(path, "a", buffering=1) as out:
        while True:
            time.sleep(every)
            try:
                line = json.dumps(_sample(started))
            except (OSError, RuntimeError, TypeError, ValueError) as error:  # never fatal here
                line = json.dumps({"error": repr(error)})
            out.write(line + "\n")


_log = os.environ.get("BENCH_MEMORY_LOG")
if _log:
    threading.Thread(
        target=_run,
        args=(_log, float(os.environ.get("BENCH_MEMORY_EVERY", "10"))),
        name="memory-probe",
        daemon=True,
    ).start()
