"""The report's figure: latency, time to first token, CPU and memory against concurrent streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator

from bench.targets_check import memory_fit


def _series(steps: list[dict[str, Any]], target: str, getter: Any) -> tuple[list[int], list[Any]]:
    rows = [(s["k"], getter(s)) for s in steps if s["target"] == target]
    rows = [(k, v) for k, v in rows if v is not None]
    return [k for k, _ in rows], [v for _, v in rows]


def plot(report: dict[str, Any], path: Path) -> Path:
    steps = report["steps"]
    targets = list(dict.fromkeys(s["target"] for s in steps))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (lat_ax, ttft_ax), (cpu_ax, mem_ax) = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    for i, target in enumerate(targets):
        colour = colours[i % len(colours)]
        for q, style in (("p50", "-"), ("p99", "--")):
            ks, values = _series(steps, target, lambda s, q=q: s["latency"]["token_ms"].get(q))
            lat_ax.plot(ks, values, style, marker="o", color=colour, label=f"{target} {q}")
            ks, values = _series(steps, target, lambda s, q=q: s["latency"]["ttft_ms"].get(q))
            ttft_ax.plot(ks, values, style, marker="o", color=colour, label=f"{target} {q}")
        ks, values = _series(
            steps, target, lambda s: s["cpu_ms_per_1k"] if s["cpu_ms_per_1k"] else None
        )
        if ks:
            cpu_ax.plot(ks, values, marker="o", color=colour, label=f"{target} µs per token")
        ks, values = _series(steps, target, lambda s: s["pss_mb"])
        if ks:
            mem_ax.plot(ks, values, "o", color=colour, label=f"{target} PSS")
            per_stream_kb, intercept = memory_fit(report, target)
            if per_stream_kb is not None and intercept is not None:
                xs = [0, max(ks)]
                mem_ax.plot(
                    xs,
                    [intercept + per_stream_kb / 1024 * x for x in xs],
                    "-",
                    color=colour,
                    label=f"fit: {intercept:.0f} MB + {per_stream_kb:.1f} KB/stream",
                )

    lat_ax.axhline(100, color="grey", lw=0.8, ls=":")
    lat_ax.set(title="Per-token forwarding latency", ylabel="ms (log)", xlabel="concurrent streams")
    lat_ax.set_yscale("log")
    ttft_ax.set(title="Added time to first token", ylabel="ms (log)", xlabel="concurrent streams")
    ttft_ax.set_yscale("log")
    cpu_ax.axhline(30, color="grey", lw=0.8, ls=":", label="target 30 µs")
    cpu_ax.set(
        title="CPU of the gateway per streamed token",
        ylabel="µs per token (= ms per 1,000)",
        xlabel="concurrent streams",
    )
    cpu_ax.set_ylim(bottom=0)
    mem_ax.set(title="Memory (PSS of the process tree)", ylabel="MB", xlabel="concurrent streams")
    mem_ax.set_ylim(bottom=0)
    ks_all = sorted({s["k"] for s in steps})
    for ax in (lat_ax, ttft_ax, cpu_ax, mem_ax):
        ax.set_xscale("symlog", linthresh=10)
        ticks = [0, *ks_all] if ax is mem_ax else ks_all
        ax.set_xticks(ticks, [str(k) for k in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    shape = report["shape"]
    fig.suptitle(
        f"{shape['tokens']}-token answers at {shape['rate']:g} tokens/s; gateway pinned to one "
        f"core, fake upstream and driver on the other ({report['machine']['cpu']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
