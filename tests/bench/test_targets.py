"""The benchmark's own calculations for issue 17, on small synthetic inputs: whole-loop pause
detection, the CPU-per-token verdict against the mock, idle memory after a run, and the
`--workers` throughput comparison."""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from bench.metrics import find_pauses, stream_lateness
from bench.stream_client import StreamResult
from bench.targets_check import (
    WORKERS_COMMAND,
    check,
    cpu_verdict,
    idle_after_verdict,
    mock_us_per_token,
    pause_verdict,
    workers_summary,
    workers_verdict,
)

MS = 1_000_000
SECOND = 1000 * MS
W0 = 1_000 * SECOND  # an arbitrary monotonic start
WINDOW = (W0, W0 + 10 * SECOND)

Stream = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def stream(
    start_s: float = 0.0,
    end_s: float = 10.0,
    stalls: tuple[tuple[float, float], ...] = (),
    every_ms: int = 20,
) -> Stream:
    """Tokens sent every `every_ms` from `start_s` to `end_s` (seconds into WINDOW), each arriving
    1 ms after it was sent, except that a token sent during a stall (from, to) arrives at its
    end, as when the gateway's loop does nothing in between."""
    sends = np.arange(int(start_s * 1000), int(end_s * 1000), every_ms, dtype=np.int64) * MS + W0
    arrivals = sends + MS
    for begin, end in stalls:
        hit = (sends >= W0 + int(begin * SECOND)) & (sends < W0 + int(end * SECOND))
        arrivals[hit] = W0 + int(end * SECOND)
    return arrivals, arrivals - sends


# -- pauses ------------------------------------------------------------------------------------


def test_a_stall_that_hits_every_stream_is_one_pause() -> None:
    streams = [stream(stalls=((5.0, 5.3),)) for _ in range(20)]
    pauses = find_pauses(streams, WINDOW)
    assert pauses.pauses == 1
    assert pauses.per_minute == pytest.approx(6.0)  # one in 10 s
    assert pauses.worst_share == 1.0
    assert (pauses.worst_late, pauses.worst_active) == (20, 20)
    assert pauses.worst_at_s is not None and 5.2 <= pauses.worst_at_s <= 5.3
    # The token sent as the stall began waited all of it.
    assert pauses.longest_ms == pytest.approx(300.0)


def test_one_slow_stream_of_twenty_is_no_pause() -> None:
    streams = [stream(stalls=((5.0, 5.3),))] + [stream() for _ in range(19)]
    pauses = find_pauses(streams, WINDOW)
    assert pauses.pauses == pauses.windows == 0
    assert pauses.worst_share == pytest.approx(0.05)


def test_more_than_a_tenth_of_the_streams_at_once_is_a_pause() -> None:
    late = [stream(stalls=((5.0, 5.3),)) for _ in range(3)]
    assert find_pauses(late + [stream() for _ in range(17)], WINDOW).pauses == 1  # 15 %
    two = late[:2] + [stream() for _ in range(18)]
    assert find_pauses(two, WINDOW).pauses == 0  # 10 % is not more than 10 %


def test_a_burst_split_by_a_window_boundary_is_still_seen() -> None:
    """Two streams late just before 5.1 s, two just after: 10 % in each fixed 100 ms bin, but
    20 % in the window that starts at 5.05 s."""
    before = [stream(stalls=((4.9, 5.099),)) for _ in range(2)]
    after = [stream(stalls=((5.0, 5.101),)) for _ in range(2)]
    pauses = find_pauses(before + after + [stream() for _ in range(16)], WINDOW)
    assert pauses.pauses == 1
    assert pauses.worst_share == pytest.approx(0.2)


def test_separate_stalls_count_apart_and_late_tokens_of_one_stream_count_once() -> None:
    streams = [stream(stalls=((2.0, 2.4), (6.0, 6.2)), every_ms=5) for _ in range(10)]
    pauses = find_pauses(streams, WINDOW)
    assert pauses.pauses == 2
    assert pauses.per_minute == pytest.approx(12.0)
    assert pauses.worst_late == 10  # streams, not tokens


def test_only_the_streams_then_active_count() -> None:
    """Ten streams ended at 2 s; of the ten still running at 5 s, two stall: 20 % of those
    active (10 % of all)."""
    gone = [stream(end_s=2.0) for _ in range(10)]
    running = [stream(stalls=((5.0, 5.3),)) for _ in range(2)] + [stream() for _ in range(8)]
    pauses = find_pauses(gone + running, WINDOW)
    assert pauses.pauses == 1
    assert pauses.worst_active == 10


def test_no_late_token_means_no_worst_window() -> None:
    pauses = find_pauses([stream() for _ in range(5)], WINDOW)
    assert (pauses.pauses, pauses.worst_share, pauses.longest_ms) == (0, None, None)
    assert find_pauses([], WINDOW).pauses == 0
    assert find_pauses([stream()], (W0, W0 + 50 * MS)).pauses == 0  # shorter than one window


def test_lateness_is_matched_by_sequence_number_and_skips_missing_tokens() -> None:
    result = StreamResult("m", recv=array("q", [W0 + 5 * MS, 0, W0 + 300 * MS]))
    timings = {"m": [W0 - 200 * MS, W0, W0 + 20 * MS, W0 + 40 * MS], "other": [0, 1]}
    [(arrivals, lateness)] = stream_lateness([result, StreamResult("unknown")], timings)
    assert arrivals.tolist() == [W0 + 5 * MS, W0 + 300 * MS]
    assert lateness.tolist() == [5 * MS, 260 * MS]


# -- verdicts ----------------------------------------------------------------------------------


def step(target: str, k: int, **fields: Any) -> dict[str, Any]:
    latency = {
        "tokens_in_window": 10_000,
        "ttft_ms": {"p50": 1.0, "p99": 5.0},
        "token_ms": {"p50": 0.5, "p99": 2.0},
        "wire_bytes_per_token": 50.0,
    }
    base = {
        "target": target,
        "k": k,
        "window_s": 25.0,
        "latency": latency,
        "passed": True,
        "failures": [],
        "cpu_ms_per_1k": 20.0,
        "fake_util": 0.1,
        "driver_util": 0.1,
        "pss_mb": 100.0 + k * 0.03,
        "api": {},
        "pauses": None,
    }
    return base | fields


def test_cpu_is_met_under_25_us_or_within_one_and_a_half_times_the_mock() -> None:
    assert cpu_verdict(step("chatgate", 200, cpu_ms_per_1k=24.0, fake_us_per_token=5.0)).met
    close = cpu_verdict(step("chatgate", 200, cpu_ms_per_1k=30.0, fake_us_per_token=25.0))
    assert close.met is True
    assert "30.0 µs" in close.measured and "25.0 µs" in close.measured
    assert "1.20×" in close.measured
    far = cpu_verdict(step("chatgate", 200, cpu_ms_per_1k=30.0, fake_us_per_token=10.0))
    assert far.met is False and "3.00×" in far.measured
    assert cpu_verdict(None).met is None
    elsewhere = cpu_verdict(None, step("chatgate", 50, cpu_ms_per_1k=80.0, fake_us_per_token=20.0))
    assert elsewhere.met is None
    assert elsewhere.measured.startswith("not run at 200 streams; at 50: 80.0 µs")


def test_the_mocks_cost_per_token_from_an_older_result() -> None:
    # 10 % of a core for 25 s over 10,000 tokens: 250 µs each.
    assert mock_us_per_token(step("chatgate", 200)) == pytest.approx(250.0)
    assert mock_us_per_token(step("chatgate", 200, fake_us_per_token=12.5)) == 12.5


def test_pauses_are_judged_at_400_streams_and_shown_at_the_highest_step() -> None:
    none = {"pauses": 0, "worst_share": 0.05, "worst_active": 400, "worst_at_s": 1.0}
    some = none | {
        "pauses": 3,
        "per_minute": 7.2,
        "seconds": 25.0,
        "windows": 5,
        "longest_ms": 150.0,
        "worst_share": 0.8,
        "worst_active": 600,
    }
    steps = [step("chatgate", 400, pauses=none), step("chatgate", 600, pauses=some)]
    verdict = pause_verdict(steps, "chatgate")
    assert verdict.met is True
    assert "400 streams: none" in verdict.measured
    assert "600 streams: 7.2 pauses per minute" in verdict.measured
    assert pause_verdict(steps[1:], "chatgate").met is None  # 400 not run


def test_a_system_that_failed_below_400_streams_misses_the_pause_target() -> None:
    report = {
        "steps": [step("direct", 200), step("chatgate", 200, passed=False, failures=["slow"])],
        "idle": {"pss_mb": 100.0, "rss_mb": 110.0},
    }
    [pauses] = [v for v in check(report, "chatgate") if v.row == 3 and v.group == "issue 17"]
    assert pauses.met is False
    assert pauses.measured.startswith("never reached 400 streams (failed at 200)")


def test_idle_after_a_run_within_a_fifth_of_the_idle_before() -> None:
    before = {"rss_mb": 100.0, "pss_mb": 90.0}
    assert idle_after_verdict(before, {"rss_mb": 119.0, "pss_mb": 100.0, "quiet_s": 25.0}).met
    grown = idle_after_verdict(before, {"rss_mb": 125.0, "pss_mb": 100.0})
    assert grown.met is False and "+25 %" in grown.measured
    assert idle_after_verdict(before, {"rss_mb": 110.0, "pss_mb": 120.0}).met is False  # PSS
    assert idle_after_verdict(before, None).met is None
    assert idle_after_verdict(before, {}).met is None


def workers_run(count: int, held_up_to: int, steps: tuple[int, ...]) -> dict[str, Any]:
    report = {
        "command": f"python -m bench --workers {count}",
        "machine": {"date": "2026-12-06 08:00 UTC"},
        "workers": {"count": count, "cores": list(range(1, count + 1))},
        "shape": {"tokens": 256, "rate": 50.0},
        "steps": [
            step(
                "chatgate",
                k,
                passed=k <= held_up_to,
                latency={"tokens_in_window": k * 50 * 25, "token_ms": {"p99": 40.0}},
            )
            for k in steps
        ],
    }
    return workers_summary(report, f"bench/results/workers-{count}.json")


def test_two_workers_against_one_at_the_highest_step_each_held() -> None:
    runs = {"1": workers_run(1, 200, (200, 400)), "2": workers_run(2, 400, (200, 400, 600))}
    verdict = workers_verdict(runs, "chatgate")
    assert verdict.met is True
    assert "20,000 tokens/s at 400 streams" in verdict.measured
    assert "2.00×" in verdict.measured
    runs["2"] = workers_run(2, 300, (200, 300, 400))
    assert workers_verdict(runs, "chatgate").met is False  # 1.5×


def test_two_workers_that_held_every_step_give_only_a_lower_bound() -> None:
    runs = {"1": workers_run(1, 200, (200, 400)), "2": workers_run(2, 300, (200, 300))}
    verdict = workers_verdict(runs, "chatgate")
    assert verdict.met is None and "lower bound" in verdict.measured


def test_workers_not_measured_names_the_command() -> None:
    verdict = workers_verdict({"1": workers_run(1, 200, (200,))}, "chatgate")
    assert verdict.met is None
    assert WORKERS_COMMAND in verdict.measured and "--workers 2" in verdict.measured
