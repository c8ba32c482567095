"""From raw observations to the numbers of the report (performance.md §4.4).

- Added TTFT = request leg (fake received − client sent) + first-token leg (client received
  token 1 − fake sent token 1); for requests sent inside the window.
- Per-token forwarding latency = client received token i − fake sent token i; for tokens
  received inside the window. Jitter = |client gap − fake gap|. Coalescing = tokens per read.
- Wire bytes per token = socket bytes of the whole response ÷ tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bench.stream_client import StreamResult

Timings = dict[str, list[int]]


def pct(values: npt.NDArray[np.float64] | Sequence[float], q: float) -> float | None:
    array = np.asarray(values, dtype=np.float64)
    return float(np.percentile(array, q)) if array.size else None


@dataclass
class Latency:
    requests: int = 0  # answers that ended (whole step)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    sent_in_window: int = 0
    tokens_in_window: int = 0
    ttft_ms: dict[str, float | None] = field(default_factory=dict)
    request_leg_ms: float | None = None
    # The request leg split: client sent → response headers (the gateway's own work before it
    # answers: sign-in check, history load, user-message insert), then headers → fake received.
    headers_ms: dict[str, float | None] = field(default_factory=dict)
    headers_to_upstream_ms: dict[str, float | None] = field(default_factory=dict)
    first_token_leg_ms: float | None = None
    token_ms: dict[str, float | None] = field(default_factory=dict)
    jitter_p99_ms: float | None = None
    tokens_per_read: float | None = None
    wire_bytes_per_token: float | None = None
    body_bytes_per_token: float | None = None
    unmatched: int = 0  # answers the fake has no timings for


def analyse(
    results: Sequence[StreamResult], timings: Timings, tokens: int, window: tuple[int, int]
) -> Latency:
    """`window` is (start, end) in monotonic nanoseconds."""
    w0, w1 = window
    out = Latency(requests=len(results))
    ttft: list[float] = []
    request_legs: list[float] = []
    to_headers: list[float] = []
    to_upstream: list[float] = []
    first_legs: list[float] = []
    token_lat: list[npt.NDArray[np.int64]] = []
    jitter: list[npt.NDArray[np.int64]] = []
    reads = 0.0
    counted = 0
    wire = body = complete_tokens = 0
    for result in results:
        failed = result.error is not None or len(result.recv) != tokens or 0 in result.recv
        if failed:
            out.errors += 1
            if len(out.error_examples) < 5:
                out.error_examples.append(result.error or f"{len(result.recv)} of {tokens} tokens")
        record = timings.get(result.marker)
        if record is None:
            out.unmatched += not failed
            continue
        sends = np.asarray(record[1:], dtype=np.int64)
        recv = np.frombuffer(result.recv, dtype=np.int64)
        n = min(sends.size, recv.size)
        if n == 0:
            continue
        sends, recv = sends[:n], recv[:n]
        valid = recv > 0
        if w0 <= result.sent_ns < w1:
            out.sent_in_window += 1
            if valid[0]:
                request_leg = record[0] - result.sent_ns
                first_leg = int(recv[0] - sends[0])
                request_legs.append(request_leg / 1e6)
                if result.headers_ns:
                    to_headers.append((result.headers_ns - result.sent_ns) / 1e6)
                    to_upstream.append((record[0] - result.headers_ns) / 1e6)
                first_legs.append(first_leg / 1e6)
                ttft.append((request_leg + first_leg) / 1e6)
        inside = valid & (recv >= w0) & (recv < w1)
        hits = int(inside.sum())
        if hits:
            out.tokens_in_window += hits
            token_lat.append((recv - sends)[inside])
            if n > 1:
                pair = inside[1:] & inside[:-1]
                jitter.append(np.abs(np.diff(recv) - np.diff(sends))[pair])
            reads += result.read_events * hits / n
            counted += hits
        if not failed:
            wire += result.wire_bytes
            body += result.body_bytes
            complete_tokens += tokens
    out.ttft_ms = {f"p{q}": pct(ttft, q) for q in (50, 95, 99)}
    out.request_leg_ms = pct(request_legs, 50)
    out.headers_ms = {f"p{q}": pct(to_headers, q) for q in (50, 99)}
    out.headers_to_upstream_ms = {f"p{q}": pct(to_upstream, q) for q in (50, 99)}
    out.first_token_leg_ms = pct(first_legs, 50)
    lat = np.concatenate(token_lat) / 1e6 if token_lat else np.empty(0)
    out.token_ms = {f"p{q}": pct(lat, q) for q in (50, 99, 99.9)}
    out.token_ms["max"] = float(lat.max()) if lat.size else None
    gaps = np.concatenate(jitter) / 1e6 if jitter else np.empty(0)
    out.jitter_p99_ms = pct(gaps, 99)
    out.tokens_per_read = counted / reads if reads else None
    if complete_tokens:
        out.wire_bytes_per_token = wire / complete_tokens
        out.body_bytes_per_token = body / complete_tokens
    return out


def slope(points: Sequence[tuple[float, float]]) -> tuple[float | None, float | None]:
    """Least-squares (slope, intercept) of y over x; None when fewer than two distinct x."""
    xs = np.asarray([p[0] for p in points], dtype=np.float64)
    ys = np.asarray([p[1] for p in points], dtype=np.float64)
    if np.unique(xs).size < 2:
        return None, None
    a, b = np.polyfit(xs, ys, 1)
    return float(a), float(b)


# Whole-loop pauses (issue 17): a stall of the gateway's event loop delays the next token of
# every stream at once, where a slow stream or a slow read delays one. So a pause is a 100 ms
# window in which more than 10 % of the streams then active received a token ≥ 100 ms late.
LATE_NS = 100_000_000
PAUSE_SHARE = 0.10
PAUSE_WIDTH_NS = 100_000_000
# Windows start every 50 ms, overlapping by half: a burst of late tokens shorter than 50 ms lies
# whole inside at least one window, wherever the window grid falls (fixed 100 ms bins would split
# a burst at a boundary into two halves, each under the share).
PAUSE_STEP_NS = 50_000_000


@dataclass
class Pauses:
    seconds: float  # the span searched
    windows: int = 0  # 100 ms windows (one every 50 ms) with too many streams late at once
    pauses: int = 0  # runs of overlapping such windows: one stall each
    per_minute: float = 0.0  # pauses per minute
    # The longest pause, as the lateness of its latest token: about how long the loop stalled.
    longest_ms: float | None = None
    worst_share: float | None = None  # of the streams active in a window, the most late at once
    worst_late: int = 0  # … how many streams that was
    worst_active: int = 0  # … of how many active
    worst_at_s: float | None = None  # … where in the span the worst window starts


def stream_lateness(
    results: Sequence[StreamResult], timings: Timings
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """(arrival ns, lateness ns) of every token each answer received, matched with the fake's send
    time by sequence number; built after the step from what the client already keeps (one int64
    per token), so the driver does no extra work per token."""
    out = []
    for result in results:
        record = timings.get(result.marker)
        if record is None or not result.recv:
            continue
        sends = np.asarray(record[1:], dtype=np.int64)
        recv = np.frombuffer(result.recv, dtype=np.int64)
        n = min(sends.size, recv.size)
        recv, sends = recv[:n], sends[:n]
        valid = recv > 0  # 0: a token that never came
        if valid.any():
            out.append((recv[valid], (recv - sends)[valid]))
    return out


def find_pauses(
    streams: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    window: tuple[int, int],
    *,
    late_ns: int = LATE_NS,
    share: float = PAUSE_SHARE,
    width_ns: int = PAUSE_WIDTH_NS,
    step_ns: int = PAUSE_STEP_NS,
) -> Pauses:
    """Windows of `width_ns` (one every `step_ns`) inside `window` in which more than `share` of
    the active streams received a token at least `late_ns` late. `streams`: (arrival ns, lateness
    ns) per answer. An answer is active in a window when the window overlaps the span from its
    first to its last token; each answer counts once per window however many late tokens it got."""
    w0, w1 = window
    out = Pauses(seconds=(w1 - w0) / 1e9)
    if width_ns % step_ns:
        raise ValueError("the window width must be a whole number of steps")
    per = width_ns // step_ns  # sub-bins of `step_ns` in one window
    count = (w1 - w0 - width_ns) // step_ns + 1
    if count <= 0:
        return out
    shifts = np.arange(per, dtype=np.int64)
    active = np.zeros(count + 1, dtype=np.int64)  # difference array: +1 where a span starts
    late_windows: list[npt.NDArray[np.int64]] = []
    latest = np.zeros(count + per - 1, dtype=np.int64)  # per sub-bin: the latest token in it
    for arrivals, lateness in streams:
        if not arrivals.size:
            continue
        # Window j covers sub-bins j … j + per − 1; it overlaps sub-bins first … last when
        # first − per + 1 ≤ j ≤ last.
        first = (int(arrivals.min()) - w0) // step_ns
        last = (int(arrivals.max()) - w0) // step_ns
        lo, hi = max(first - per + 1, 0), min(last, count - 1)
        if lo > hi:
            continue
        active[lo] += 1
        active[hi + 1] -= 1
        mask = (lateness >= late_ns) & (arrivals >= w0) & (arrivals < w0 + latest.size * step_ns)
        if mask.any():
            sub = (arrivals[mask] - w0) // step_ns
            np.maximum.at(latest, sub, lateness[mask])
            bins = np.unique(sub)
            js = np.unique((bins[:, None] - shifts).ravel())
            late_windows.append(js[(js >= 0) & (js < count)])
    if not late_windows:
        return out
    late_per = np.bincount(np.concatenate(late_windows), minlength=count)[:count]
    active_per = np.cumsum(active)[:count]
    shares = np.divide(
        late_per, active_per, out=np.zeros(count, dtype=np.float64), where=active_per > 0
    )
    flagged = np.flatnonzero(shares > share)
    worst = int(np.argmax(shares))
    out.worst_share = float(shares[worst])
    out.worst_late, out.worst_active = int(late_per[worst]), int(active_per[worst])
    out.worst_at_s = worst * step_ns / 1e9
    if flagged.size:
        out.windows = int(flagged.size)
        # A new run wherever two flagged windows do not overlap (more than `per` − 1 apart).
        starts = np.flatnonzero(np.diff(flagged) >= per) + 1
        runs = np.split(flagged, starts)
        out.pauses = len(runs)
        out.per_minute = out.pauses / (out.seconds / 60) if out.seconds > 0 else 0.0
        out.longest_ms = max(int(latest[r[0] : r[-1] + per].max()) for r in runs) / 1e6
    return out
