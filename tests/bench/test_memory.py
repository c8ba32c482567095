"""The memory probe reads this interpreter's allocators for real, and its reader shows what grew."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from bench.memory import read, report

PROBE = Path(__file__).parents[2] / "bench" / "memory_probe" / "sitecustomize.py"


def _probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("memory_probe", PROBE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # without BENCH_MEMORY_LOG it starts no thread
    return module


class Held:
    """Objects a sample must count."""


def test_a_sample_reads_both_allocators_and_counts_new_objects(tmp_path: Path) -> None:
    probe = _probe()
    # Every type, not the top few: in a test process full of objects 5,000 is not among them.
    before = probe._sample(0.0, top=100_000)
    held = [Held() for _ in range(5000)]
    after = probe._sample(0.0, top=100_000)
    assert held

    python = after["python"]
    assert python["arenas"] > 0
    assert 0 < python["in_blocks"] <= python["arena_bytes"]
    assert after["process"]["rss"] > python["in_blocks"]
    assert after["c"]["in_use"] > 0

    log = tmp_path / "memory.log"
    log.write_text("\n".join(json.dumps(s) for s in (before, {"error": "x"}, after)) + "\n")
    text = report(read(log))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # the header and the two samples; the error line is skipped
    assert "  Held: +5,000" in text
