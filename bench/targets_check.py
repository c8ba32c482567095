"""The targets of issue 9, checked against a run's numbers: met or missed, with the number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.metrics import slope

TOKEN_CHARS = 7
AT_K = 200


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured in this run

    @property
    def mark(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met]


def _at(steps: list[dict[str, Any]], target: str, k: int) -> dict[str, Any] | None:
    return next((s for s in steps if s["target"] == target and s["k"] == k), None)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def memory_fit(report: dict[str, Any], target: str) -> tuple[float | None, float | None]:
    """(KB per stream, intercept MB) from PSS at every measured K, idle included."""
    baseline = report.get("baseline") or {}
    if target in baseline.get("targets", ()):  # the baseline version's own process
        idle = baseline.get("idle")
    else:
        idle = report.get("idle") if target.startswith("chatgate") else None
    points = [(0.0, idle["pss_mb"])] if idle else []
    points += [
        (float(s["k"]), s["pss_mb"])
        for s in report["steps"]
        if s["target"] == target and s["pss_mb"] is not None
    ]
    per_stream_mb, intercept = slope(points)
    return (per_stream_mb * 1024 if per_stream_mb is not None else None), intercept


def capacity(report: dict[str, Any], target: str) -> int | None:
    passed = [s["k"] for s in report["steps"] if s["target"] == target and s["passed"]]
    return max(passed) if passed else None


def check(report: dict[str, Any], target: str = "chatgate") -> list[Verdict]:
    out = _check(report, target)
    steps = report["steps"]
    failed = [s["k"] for s in steps if s["target"] == target and not s["passed"]]
    if _at(steps, target, AT_K) is None and failed and min(failed) < AT_K:
        # It never got to 200 streams: everything "at 200 streams" is missed, not unmeasured.
        for verdict in out:
            if verdict.met is None and f"at {AT_K} streams" in verdict.target:
                verdict.met = False
                verdict.measured = f"never reached {AT_K} streams (failed at {min(failed)})"
    return out


def _check(report: dict[str, Any], target: str) -> list[Verdict]:
    steps = report["steps"]
    at = _at(steps, target, AT_K)
    floor = _at(steps, "direct", AT_K)
    out: list[Verdict] = []

    cpu = at.get("cpu_ms_per_1k") if at else None
    out.append(
        Verdict(
            f"CPU ≤ 0.03 CPU-s per 1,000 tokens at {AT_K} streams",
            f"{_fmt(cpu / 1000 if cpu is not None else None, 3)} CPU-s "
            f"({_fmt(cpu, 1)} µs per token)",
            None if cpu is None else cpu <= 30,
        )
    )

    cap = capacity(report, target)
    tried = sorted({s["k"] for s in steps if s["target"] == target})
    failed = [s for s in steps if s["target"] == target and not s["passed"]]
    why = f"; failed at {failed[0]['k']}: {'; '.join(failed[0]['failures'])}" if failed else ""
    out.append(
        Verdict(
            "Capacity ≥ 600 streams (per-token p99 ≤ 100 ms, no errors, answers stored)",
            f"{cap if cap is not None else 0} streams passed (steps run: {tried}){why}",
            None if not tried else (cap or 0) >= 600,
        )
    )

    ttft = at["latency"]["ttft_ms"] if at else {}
    p50, p99 = ttft.get("p50"), ttft.get("p99")
    floor_ttft = floor["latency"]["ttft_ms"] if floor else {}
    out.append(
        Verdict(
            f"Added TTFT p50 ≤ 3 ms, p99 ≤ 15 ms at {AT_K} streams",
            f"p50 {_fmt(p50)} ms, p99 {_fmt(p99)} ms (direct: {_fmt(floor_ttft.get('p50'))} / "
            f"{_fmt(floor_ttft.get('p99'))} ms)",
            None if p50 is None or p99 is None else p50 <= 3 and p99 <= 15,
        )
    )

    tok = at["latency"]["token_ms"] if at else {}
    ftok = floor["latency"]["token_ms"] if floor else {}
    d50 = tok["p50"] - ftok["p50"] if tok.get("p50") is not None and ftok.get("p50") else None
    d99 = tok["p99"] - ftok["p99"] if tok.get("p99") is not None and ftok.get("p99") else None
    out.append(
        Verdict(
            f"Per-token latency above direct: p50 ≤ 1 ms, p99 ≤ 10 ms at {AT_K} streams",
            f"+{_fmt(d50, 2)} ms p50, +{_fmt(d99, 2)} ms p99 "
            f"({_fmt(tok.get('p50'), 2)} / {_fmt(tok.get('p99'), 2)} ms vs direct "
            f"{_fmt(ftok.get('p50'), 2)} / {_fmt(ftok.get('p99'), 2)} ms)",
            None if d50 is None or d99 is None else d50 <= 1 and d99 <= 10,
        )
    )

    if target == "chatgate":
        idle = report.get("idle", {})
        rss = idle.get("rss_mb")
        out.append(
            Verdict(
                "Memory ≤ 120 MB resident idle",
                f"RSS {_fmt(rss)} MB, PSS {_fmt(idle.get('pss_mb'))} MB",
                None if rss is None else rss <= 120,
            )
        )
    per_stream, _ = memory_fit(report, target)
    out.append(
        Verdict(
            "Memory ≤ 50 KB per active stream (PSS slope over K)",
            f"{_fmt(per_stream)} KB per stream",
            None if per_stream is None else per_stream <= 50,
        )
    )

    api = at.get("api", {}) if at else {}
    load, listing = api.get("load", {}), api.get("list", {})
    out.append(
        Verdict(
            f"Load a 1,000-message conversation p99 ≤ 100 ms at {AT_K} streams",
            f"p50 {_fmt(load.get('p50'))} ms, p99 {_fmt(load.get('p99'))} ms",
            None if load.get("p99") is None else load["p99"] <= 100 and not load.get("errors"),
        )
    )
    out.append(
        Verdict(
            f"List conversations p99 ≤ 25 ms at {AT_K} streams",
            f"p50 {_fmt(listing.get('p50'))} ms, p99 {_fmt(listing.get('p99'))} ms",
            None
            if listing.get("p99") is None
            else listing["p99"] <= 25 and not listing.get("errors"),
        )
    )

    if target == "chatgate":  # the browser's delta events; /v1 sends OpenAI's own chunks
        wire = [
            s["latency"]["wire_bytes_per_token"]
            for s in steps
            if s["target"] == target and s["latency"]["wire_bytes_per_token"]
        ]
        framing = max(wire) - TOKEN_CHARS if wire else None
        out.append(
            Verdict(
                "Wire ≤ 60 bytes of framing per delta event",
                f"{_fmt(framing)} bytes over the 7 characters of text "
                f"({_fmt(max(wire) if wire else None)} wire bytes per token, everything counted)",
                None if framing is None else framing <= 60,
            )
        )

    if target == "chatgate":
        start = report.get("startup_s", {})
        worst = max(start.values()) if start else None
        out.append(
            Verdict(
                "Start to first served request ≤ 2 s",
                f"{_fmt(start.get('existing_database'), 2)} s with the bench database, "
                f"{_fmt(start.get('empty_data_dir'), 2)} s on an empty data directory",
                None if worst is None else worst <= 2,
            )
        )
        stored = report.get("stored", {})
        if stored:
            out.append(
                Verdict(
                    "Every answer fully stored (all answers, read from SQLite after the run)",
                    f"{stored['complete_and_exact']:,} of {stored['answers']:,} complete and exact",
                    stored["complete_and_exact"] == stored["answers"],
                )
            )

    floors = [s for s in steps if s["target"] == "direct"]
    worst_floor = max((s["latency"]["token_ms"].get("p99") or 0 for s in floors), default=None)
    out.append(
        Verdict(
            "Harness not the bottleneck: direct per-token p99 ≤ 5 ms at every step",
            f"worst direct p99 {_fmt(worst_floor, 2)} ms",
            None if worst_floor is None else worst_floor <= 5,
        )
    )
    return out
