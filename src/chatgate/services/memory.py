"""Give memory back to the system when a burst of answers is over.

Hundreds of streams leave the C allocator's heaps (one per thread that allocated: the event loop
and every database thread) full of freed but unreturned pages, so a server that served a busy
hour kept twice its idle memory for the rest of the day. glibc's `malloc_trim(0)` returns the
free pages of every heap to the system; it is called once the server has gone quiet after being
busy, in a thread (it walks the heaps), and never while answers are being written.

Before that, one full garbage collection. The collector's thresholds are raised for throughput
(`chatgate.app.GC_THRESHOLDS`), and the server's and the framework's per-request objects (a
connection and its protocol, a request's exit stacks) point at each other: those of requests that
lived long enough to reach the oldest generation stay, unreachable, until a full collection —
after 400 streams some 60,000 objects, which also hold Python's memory arenas. When quiet, a full
collection walks little (start-up's objects are frozen out of it) and costs a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import os
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

CHECK_EVERY = 10.0


M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)
MALLOC_ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # Looked up once: find_library runs `ldconfig -p` in a subprocess.
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        return ctypes.CDLL(library)
    except OSError:
        return None


def _libc_function(name: str) -> Any | None:
    """A glibc allocator function, or None on a C library without it (musl, macOS)."""
    return getattr(_libc(), name, None)


def _load_trim() -> Callable[[], object] | None:
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


_TRIM = _load_trim()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let all threads share at most `arenas` C allocator heaps; call before threads start.

    glibc gives threads that allocate at the same moment heaps of their own, up to eight per
    core, and each heap keeps the pages of its busiest moment: the database threads' heaps grew
    with every load run apart from the event loop's. Python's own small objects come from its
    arenas either way; this is about the large ones (rows, texts, SQLite's pages). An operator's
    `MALLOC_ARENA_MAX` wins. False where it was not changed."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system; False where that is not possible."""
    if _TRIM is None:
        return False
    _TRIM()
    return True


class IdleMemoryRelease:
    """Every `every` seconds: if answers were held at the last look and none are now, give the
    memory they used back."""

    def __init__(self, held: Callable[[], int], *, every: float = CHECK_EVERY) -> None:
        self._held = held
        self._every = every
        self._was_busy = False
        self._task: asyncio.Task[None] | None = None
        self.releases = 0

    def start(self) -> None:
        if _TRIM is not None:
            self._task = asyncio.create_task(self._run(), name="idle-memory-release")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.check()

    async def check(self) -> None:
        if self._held() > 0:
            self._was_busy = True
            return
        if self._was_busy:
            self._was_busy = False
            gc.collect()
            await asyncio.to_thread(release_free_memory)
            self.releases += 1
            log.debug("returned free memory to the system after a busy spell")
