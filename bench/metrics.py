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
