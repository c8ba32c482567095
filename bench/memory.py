"""Read the memory probe's log (`bench/memory_probe`): one row per sample, then what grew.

    python -m bench.memory /tmp/memory.log [--since SECONDS]

Each row: RSS and PSS; Python's arenas, the bytes in use in them and the bytes free inside them;
the C allocator's heaps, in use and free, and what it mapped directly; the collector's objects.
Then the object types whose count grew most between the first sample at or after `--since` and
the last one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MB = 1024 * 1024
COLUMNS = (
    "t s",
    "RSS",
    "PSS",
    "py arenas",
    "py used",
    "py free",
    "C heaps",
    "C used",
    "C free",
    "C mapped",
    "objects",
)


def read(path: Path) -> list[dict[str, Any]]:
    samples = []
    for line in path.read_text().splitlines():
        sample = json.loads(line)
        if "error" not in sample:
            samples.append(sample)
    return samples


def _mb(value: int | None) -> str:
    return "–" if value is None else f"{value / MB:.1f}"


def row(sample: dict[str, Any]) -> list[str]:
    process, python, c = sample["process"], sample["python"], sample["c"]
    return [
        f"{sample['t']:.0f}",
        _mb(process.get("rss")),
        _mb(process.get("pss")),
        _mb(python.get("arena_bytes")),
        _mb(python.get("in_blocks")),
        _mb(python.get("free_blocks")),
        _mb(c.get("heap")),
        _mb(c.get("in_use")),
        _mb(c.get("free")),
        _mb(c.get("mapped")),
        f"{sample['objects']['count']:,}",
    ]


def grown(first: dict[str, Any], last: dict[str, Any], top: int = 15) -> list[tuple[str, int]]:
    before = dict(first["objects"]["top"])
    after = dict(last["objects"]["top"])
    growth = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after.keys() | before}
    return sorted(growth.items(), key=lambda item: -item[1])[:top]


def report(samples: Sequence[dict[str, Any]], since: float = 0.0) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(sample)) + " |" for sample in samples]
    chosen = [s for s in samples if s["t"] >= since]
    if len(chosen) >= 2:
        lines += [
            "",
            f"Object types that grew from {chosen[0]['t']:.0f} s to {chosen[-1]['t']:.0f} s:",
        ]
        lines += [f"  {kind}: {change:+,}" for kind, change in grown(chosen[0], chosen[-1])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("log", type=Path)
    parser.add_argument("--since", type=float, default=0.0, help="first sample to compare from")
    args = parser.parse_args(argv)
    print(report(read(args.log), args.since))


if __name__ == "__main__":
    main()
