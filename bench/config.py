"""The run's settings and the command line that sets them."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.protocol import Shape

ROOT = Path(__file__).resolve().parent.parent
FULL_STEPS = (1, 10, 50, 100, 200, 400, 600)
QUICK_STEPS = (10, 50)


@dataclass
class RunConfig:
    steps: tuple[int, ...] = FULL_STEPS
    shape: Shape = field(default_factory=lambda: Shape(tokens=256, rate=50.0, ttft=0.2))
    window: float = 25.0  # seconds measured per gateway step (streams only)
    floor_window: float = 15.0  # the direct run needs fewer samples
    bystander_window: float = 10.0  # API calls while the streams keep running
    bystander_rate: float = 5.0  # calls per second of each kind
    chatgate_env: dict[str, str] = field(default_factory=dict)  # extra environment for ChatGate
    nice: int = 0  # niceness of ChatGate, the fake and the driver (negative needs root)
    quiet_wait: float = 20.0  # before a step, wait this long at most for other processes to calm
    quiet_budget: float = 90.0  # … and no more than this over the whole run
    settle: float = 1.0  # after the ramp, before the window opens
    # After the last step, quiet this long before idle memory is measured again: ChatGate
    # returns freed memory once it has gone quiet, looking every 10 s (services/memory.py).
    # ChatGate keeps finished answers replayable for 5 s (30 s before a50c288), then gives their
    # memory back at its next 10 s look: idle memory is what is left after that.
    idle_after_wait: float = 45.0
    users: int = 8
    open_loop: bool = False  # steps are arrival rates (per second) instead of stream counts
    targets: list[tuple[str, str]] = field(default_factory=list)  # extra OpenAI-compatible URLs
    model: str = "bench-model"
    api_key: str | None = None  # for the extra targets
    v1_key: str | None = None  # an API key for ChatGate's /v1
    profile_k: int | None = 200
    profile_seconds: int = 15
    fail_token_p99_ms: float = 100.0
    fail_ttft_p99_ms: float = 250.0
    target_core: int | None = 1
    harness_core: int | None = 0
    quick: bool = False
    write_docs: bool = True
    docs: Path = ROOT / "docs"
    results: Path = ROOT / "bench" / "results"
    command: str = "python -m bench"
    # Before/after: ChatGate at this git revision runs next to the current one, same steps.
    baseline: str | None = None
    current: str | None = None  # a git revision for the current one too (default: working tree)
    repeat: int = 1  # rounds of every step (gateway order reversed every other round)
    # `chatgate serve --workers N` on PostgreSQL + Redis, pinned to N cores (bench/workers.py).
    workers: int | None = None

    ramp_s: float | None = None  # default: one answer's length, so token phases spread evenly

    @property
    def ramp(self) -> float:
        return self.ramp_s if self.ramp_s is not None else self.shape.duration

    def concurrency(self, step: int) -> int:
        """Streams open at once in a step (Little's law for open-loop arrival rates)."""
        return round(step * self.shape.duration) if self.open_loop else step

    def requests_per_slot(self, window: float, bystander: float) -> int:
        span = self.ramp + self.settle + window + bystander + self.shape.duration
        return math.ceil(span / self.shape.duration) + 1


def parse(argv: list[str] | None = None) -> RunConfig:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark ChatGate against a fake upstream and write docs/benchmarks.md.",
    )
    parser.add_argument("--quick", action="store_true", help="two small steps, under 2 minutes")
    parser.add_argument(
        "--steps", help="comma-separated stream counts (or arrival rates with --open-loop)"
    )
    parser.add_argument("--open-loop", action="store_true", help="steps are arrivals per second")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second per stream")
    parser.add_argument("--ttft", type=float, default=0.2, help="fake's time to first token (s)")
    parser.add_argument("--window", type=float, help="measured seconds per gateway step")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="another OpenAI-compatible gateway (base URL ending in /v1), driven at every step",
    )
    parser.add_argument("--model", default="bench-model", help="model name for --target gateways")
    parser.add_argument("--api-key", help="Bearer key for --target gateways")
    parser.add_argument("--v1-key", help="a ChatGate API key for its /v1 endpoint")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument(
        "--chatgate-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for `chatgate serve` (e.g. CHATGATE_LOG_LEVEL=warning)",
    )
    parser.add_argument("--unpinned", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of ChatGate, fake and driver (e.g. -10 on a busy shared machine; root)",
    )
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--write-docs", action="store_true", help="with --quick: write docs/benchmarks.md anyway"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run ChatGate as it was at this git revision (its own data directory), "
        "measured in the same steps; writes the before/after section instead of the main one",
    )
    parser.add_argument(
        "--current",
        metavar="REV",
        help="with --baseline: run this git revision as the current ChatGate (e.g. HEAD, "
        "leaving uncommitted edits out) instead of the working tree",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every step, in alternating order"
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run `chatgate serve --workers N` on PostgreSQL + Redis (127.0.0.1, scratch "
        "database, Redis db 13), pinned to N cores; 1 is one process on the same storage. "
        "Writes bench/results/workers-N.json, not docs/",
    )
    args = parser.parse_args(argv)

    config = RunConfig(
        shape=Shape(args.tokens, args.rate, args.ttft),
        users=args.users,
        open_loop=args.open_loop,
        model=args.model,
        api_key=args.api_key,
        v1_key=args.v1_key,
        docs=args.docs,
        quick=args.quick,
    )
    if args.quick:
        config.steps = QUICK_STEPS
        config.window, config.floor_window, config.bystander_window = 4.0, 3.0, 2.0
        config.ramp_s, config.quiet_wait = 1.5, 2.0
        config.idle_after_wait = 45.0  # no shorter: the 30 s replay window and a 10 s look
        config.profile_k = None
        config.write_docs = args.write_docs
    if args.no_docs:
        config.write_docs = False
    if args.steps:
        config.steps = tuple(int(float(s)) for s in args.steps.split(",") if s.strip())
    if args.window:
        config.window = args.window
        config.floor_window = min(config.floor_window, args.window)
    if args.no_profile:
        config.profile_k = None
    config.nice = args.nice
    if args.current and not args.baseline:
        parser.error("--current goes with --baseline")
    config.baseline, config.current = args.baseline, args.current
    config.repeat = max(1, args.repeat)
    if args.workers is not None:
        if args.workers < 1:
            parser.error("--workers wants a number of processes, 1 or more")
        if args.baseline:
            parser.error("--workers and --baseline measure different things: run them apart")
        config.workers = args.workers
        config.write_docs = False
    for item in args.chatgate_env:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--chatgate-env wants KEY=VALUE, got {item!r}")
        config.chatgate_env[key] = value
    if args.unpinned:
        config.target_core = config.harness_core = None
    for item in args.target:
        name, sep, url = item.partition("=")
        if not sep or not url.startswith("http://"):
            parser.error(f"--target wants NAME=http://host:port/v1, got {item!r}")
        config.targets.append((name, url))
    config.command = "python -m bench " + " ".join(argv if argv is not None else _argv())
    config.command = config.command.strip()
    return config


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]
