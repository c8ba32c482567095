"""`python -m bench.instances`: ChatGate on PostgreSQL + Redis, one instance and then two, under
the same streaming load as the main run, reported next to the single SQLite process.

Both instances are pinned to the same core as the single process of the main run (the fake and
the driver keep the other core), so the numbers show what sharing state through PostgreSQL and
Redis costs per token, on the same CPU budget. On a machine with more cores, each instance added
on its own core adds its capacity; that scaling is not measured here (two cores in all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import procs
from bench.chatgate_api import ChatGateApi, new_http
from bench.chatgate_proc import ChatGateInstance, free_port
from bench.config import ROOT, parse
from bench.run import ADMIN, log, make_users, raise_fd_limit, start_fake, wait_quiet
from bench.steps import Context, StepResult, run_step, wait_fake_idle
from bench.targets import ChatGateTarget, SplitTarget

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"
BEGIN, END = "<!-- instances:begin", "<!-- instances:end -->"


@contextlib.contextmanager
def scratch_database() -> Any:
    import psycopg

    name = f"chatgate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(ctx: Context, target: ChatGateTarget, steps: list[int]) -> list[StepResult]:
    results = []
    for step in steps:
        await wait_quiet(ctx.config.quiet_wait)
        log(f"{target.name}: step {step} …")
        result = await run_step(ctx, target, step, gateway=True)
        lat = result.latency
        log(
            f"  {target.name} K={result.k}: tokens {lat.tokens_in_window}, errors {lat.errors}, "
            f"CPU {result.cpu_ms_per_1k or 0:.1f} ms/1k tok, TTFT p99 {lat.ttft_ms.get('p99')}, "
            f"token p99 {lat.token_ms.get('p99')}, stored {result.stored_ok}/{result.stored_checked}"
            + ("" if result.passed else f"  FAILED: {'; '.join(result.failures)}")
        )
        results.append(result)
        if not result.passed:
            break
    return results


async def run(steps: list[int], window: float) -> dict[str, Any]:
    config = parse(["--no-profile", "--no-docs", "--window", str(window)])
    procs.pin_self(config.harness_core, config.nice)
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="chatgate-bench-instances-"))
    fake, fake_port = start_fake(config, workdir)
    children: list[procs.Child] = []
    report: dict[str, Any] = {
        "steps": steps,
        "window_s": window,
        "measured": time.strftime("%Y-%m-%d %H:%M %Z"),
        "runs": {},
    }
    try:
        with scratch_database() as database_url:
            shared = {
                "CHATGATE_DATABASE_URL": database_url,
                "CHATGATE_REDIS_URL": REDIS_URL,
                "CHATGATE_REDIS_PREFIX": f"bench-{secrets.token_hex(4)}",
                "CHATGATE_SECRET_KEY": secrets.token_hex(32),
            }
            first = ChatGateInstance(workdir / "a", fake_port)
            first.env |= shared
            first.add_admin(ADMIN)
            second = ChatGateInstance(workdir / "b", fake_port)
            second.env |= shared
            port_a, port_b = free_port(), free_port()
            a, _ = first.serve(port_a, config.target_core, workdir / "a.log")
            children.append(a)
            async with new_http() as http:
                api = ChatGateApi(f"http://127.0.0.1:{port_a}", http)
                users = (await make_users(api, first, config.users))[:-1]
                ctx = Context(config, http, f"http://127.0.0.1:{fake_port}", fake.pid, api)
                await wait_fake_idle(ctx)
                one = ChatGateTarget("postgres+redis, 1 instance", api, users, a.pid)
                report["runs"]["one"] = [r.as_dict() for r in await measure(ctx, one, steps)]
                b, _ = second.serve(port_b, config.target_core, workdir / "b.log")
                children.append(b)
                two = SplitTarget(
                    "postgres+redis, 2 instances",
                    api,
                    users,
                    [("127.0.0.1", port_a, a.pid), ("127.0.0.1", port_b, b.pid)],
                )
                report["runs"]["two"] = [r.as_dict() for r in await measure(ctx, two, steps)]
            for child in children:
                child.stop(30)
            children.clear()
    finally:
        for child in children:
            child.stop()
        fake.stop()
    return report


def _row(setup: str, step: dict[str, Any]) -> str:
    lat = step["latency"]

    def f(value: Any, digits: int = 1) -> str:
        return "–" if value is None else f"{value:,.{digits}f}"

    tokens_per_s = lat["tokens_in_window"] / step["window_s"] if step["window_s"] else None
    cpu = step.get("cpu_ms_per_1k")
    return (
        f"| {step['k']} | {setup}{'' if step['passed'] else ' ✗'} | {f(tokens_per_s, 0)} | "
        f"{f(cpu)} | {f((step.get('cpu_util') or 0) * 100, 0)} % | "
        f"{f(lat['ttft_ms'].get('p50'))} / {f(lat['ttft_ms'].get('p99'))} | "
        f"{f(lat['token_ms'].get('p50'), 2)} / {f(lat['token_ms'].get('p99'), 2)} | "
        f"{lat['errors']} | {step['stored_ok']}/{step['stored_checked']} |"
    )


def markdown(report: dict[str, Any], single: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"{BEGIN} — generated by `{command}` (bench/instances.py); do not edit by hand -->",
        "## Several instances on PostgreSQL + Redis (issue 8)",
        "",
        f"Measured {report.get('measured', '?')}. Same workload as above (256-token "
        "answers at 50 tokens/s, closed loop, fresh conversations), browser SSE path. Every "
        "ChatGate process is pinned to core 1, as the single process above: two instances share "
        "that one core, so this shows what sharing state through PostgreSQL and Redis costs per "
        "token on the same CPU budget; on a machine with more cores each instance on its own "
        "core adds its capacity (not measurable on these two cores). Slot i of the driver talks "
        "to instance i mod 2; PostgreSQL and Redis run on the same machine, outside the pinned "
        "core, and their CPU is not counted.",
        "",
        "| K | setup | tokens/s delivered | CPU µs per token | core used | added TTFT p50 / p99 ms "
        "| per-token p50 / p99 ms | errors | stored (sample) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in report["steps"]:
        for setup, rows in (
            ("SQLite, 1 process (main run above)", single),
            ("PostgreSQL + Redis, 1 instance", report["runs"].get("one", [])),
            ("PostgreSQL + Redis, 2 instances", report["runs"].get("two", [])),
        ):
            for step in rows:
                if step["k"] == k:
                    lines.append(_row(setup, step))
    lines += ["", "✗: the step failed its latency limits (see the main run's rules).", "", END]
    return "\n".join(lines)


def write_docs(text: str, docs: Path) -> None:
    path = docs / "benchmarks.md"
    current = path.read_text()
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", default="100,200", help="comma-separated stream counts")
    parser.add_argument("--window", type=float, default=15.0, help="measured seconds per step")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the table from bench/results/instances.json (after a new main run)",
    )
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    if args.report_only:
        report = orjson.loads((results / "instances.json").read_bytes())
    else:
        report = asyncio.run(run(steps, args.window))
        (results / "instances.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    latest = results / "latest.json"
    single = []
    if latest.exists():
        single = [
            s for s in orjson.loads(latest.read_bytes())["steps"] if s["target"] == "chatgate"
        ]
    command = "python -m bench.instances " + " ".join(
        f"--{k} {v}" for k, v in (("steps", args.steps), ("window", args.window))
    )
    if not args.no_docs:
        write_docs(markdown(report, single, command), ROOT / "docs")
        log("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
