"""After a burst of answers the server gives the memory it freed back to the system."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from chatgate.services import memory
from chatgate.services.memory import IdleMemoryRelease


def test_freed_heap_pages_go_back_to_the_system() -> None:
    if memory._TRIM is None:
        pytest.skip("NO GLIBC MALLOC_TRIM HERE: memory cannot be handed back on this C library")
    # In a fresh process: a thread's heap filled with small objects, most freed, a few kept
    # (fragmented, as after hundreds of streams).
    script = textwrap.dedent(
        """
        import threading
        from chatgate.services.memory import release_free_memory

        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS"):
                    return int(line.split()[1])

        kept = []
        def burst():
            data = [bytearray(600) for _ in range(200_000)]
            kept.extend(data[::50])
        thread = threading.Thread(target=burst)
        thread.start(); thread.join()
        before = rss()
        assert release_free_memory()
        print(before, rss())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    before, after = map(int, out.stdout.split())
    assert after < before * 0.6, (before, after)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every heap trim the server asks for, instead of doing it."""
    made: list[str] = []

    def release_free_memory() -> bool:
        made.append("trim")
        return True

    monkeypatch.setattr(memory, "release_free_memory", release_free_memory)
    return made


async def test_memory_is_released_once_after_a_busy_spell_and_never_while_busy(
    calls: list[str],
) -> None:
    running = [0]
    release = IdleMemoryRelease(lambda: running[0])

    await release.check()  # idle from the start: nothing was used
    running[0] = 3
    await release.check()  # busy: never now
    assert calls == []
    running[0] = 0
    await release.check()
    await release.check()  # once per busy spell
    assert calls == ["trim"] and release.releases == 1


async def test_after_a_busy_spell_unreachable_cycles_are_collected_before_the_trim(
    calls: list[str],
) -> None:
    import gc
    import weakref

    class Connection:  # as a server's connection and its protocol: each points at the other
        pass

    running = [1]
    release = IdleMemoryRelease(lambda: running[0])
    await release.check()
    a, b = Connection(), Connection()
    a.peer, b.peer = b, a  # type: ignore[attr-defined]
    gone = weakref.ref(a)
    del a, b
    gc.disable()  # no automatic collection may do the work instead
    try:
        assert gone() is not None
        running[0] = 0
        await release.check()
        assert gone() is None and calls == ["trim"]
    finally:
        gc.enable()


_HEAPS_SCRIPT = textwrap.dedent(
    """
    import ctypes, ctypes.util, os, sys, tempfile, threading
    from chatgate.services.memory import limit_malloc_arenas

    if sys.argv[1] == "limited":
        assert limit_malloc_arenas()
    # Eight threads allocating large blocks at the same moment, as the database threads do.
    start = threading.Barrier(8)
    done = threading.Barrier(9)
    def allocate():
        start.wait()
        blocks = [bytearray(4096) for _ in range(2_000)]
        done.wait()
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    done.wait()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    path = tempfile.mktemp()
    stream = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(path).read().count("<heap nr="))
    os.unlink(path)
    for thread in threads:
        thread.join()
    """
)


def _heaps(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _HEAPS_SCRIPT, mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    return int(done.stdout.strip())


def test_threads_share_at_most_two_allocator_heaps() -> None:
    if memory._libc_function("malloc_info") is None:
        pytest.skip("NO GLIBC MALLOC HERE: its heaps cannot be limited or counted")
    assert _heaps("default") > 2  # what glibc does by itself: a heap per busy thread
    assert _heaps("limited") <= memory.MALLOC_ARENAS


def test_an_operators_malloc_arena_max_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_malloc_arenas() is False
