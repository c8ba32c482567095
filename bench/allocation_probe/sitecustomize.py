"""Loaded into `chatgate serve` by `python -m bench.allocations` (through PYTHONPATH) — never shipped.

With `BENCH_ALLOCATIONS_DIR` set: SIGUSR2 starts tracemalloc (`BENCH_ALLOCATIONS_FRAMES` frames per
allocation, 1 by default; tracing from the start would slow start-up past the harness's wait), and
each SIGUSR1 collects garbage and pickles a snapshot to `snapshot-<n>.pickle` in that directory.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

_DIR = os.environ.get("BENCH_ALLOCATIONS_DIR")
_taken = 0


def _start(_signum: int, _frame: FrameType | None) -> None:
    tracemalloc.start(int(os.environ.get("BENCH_ALLOCATIONS_FRAMES", "1")))


def _snapshot(_signum: int, _frame: FrameType | None) -> None:
    global _taken
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    _taken += 1
    assert _DIR is not None
    target = Path(_DIR) / f"snapshot-{_taken}.pickle"
    partial = target.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(snapshot))
    partial.rename(target)  # the harness waits for the whole file


if _DIR:
    signal.signal(signal.SIGUSR2, _start)
    signal.signal(signal.SIGUSR1, _snapshot)
