"""The allocation census's arithmetic, on this interpreter's real tracemalloc snapshots."""

from __future__ import annotations

import tracemalloc

from bench.allocations import per_stream, report

STREAMS = 50


def _hold_per_stream() -> list[bytearray]:
    return [bytearray(4000) for _ in range(STREAMS)]  # the site the census must find


def test_the_site_that_holds_memory_per_stream_comes_first_with_its_share() -> None:
    tracemalloc.start(3)
    try:
        before = tracemalloc.take_snapshot()
        held = _hold_per_stream()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    for frames in (1, 3):
        sites = per_stream(before, after, STREAMS, frames)
        top = sites[0]
        assert top.where[0].endswith(f"test_allocations.py:{_line_of_bytearray()}")
        assert 4000 <= top.bytes_per_stream < 4200
        assert 1.9 <= top.blocks_per_stream <= 2.1  # a bytearray: the object and its buffer
        if frames == 3:  # the traceback goes on, innermost first, to the caller
            assert "test_allocations.py:" in top.where[1]
        else:
            assert len(top.where) == 1
    text = report(per_stream(before, after, STREAMS), 5, STREAMS, "v1")
    assert text.startswith(f"v1: {STREAMS} streams, ")
    assert "test_allocations.py" in text
    assert len(held) == STREAMS


def _line_of_bytearray() -> int:
    return _hold_per_stream.__code__.co_firstlineno + 1
