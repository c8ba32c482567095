"""`python -m bench`: start the fake and ChatGate pinned to their cores, prepare users and data,
run the load steps against every target, and write docs/benchmarks.md and the plot.

`--baseline REV` adds ChatGate as it was at git revision REV (its `src/` extracted with
`git archive`, run on the same .venv with PYTHONPATH, its own data directory and migrations),
pinned and fed like the current one; every step measures both versions, on both paths, in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import platform
import resource
import secrets
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import procs
from bench import profile as profiler
from bench.bystander import run_probes
from bench.chatgate_api import ChatGateApi, UserSession, new_http
from bench.chatgate_proc import (
    MODEL,
    ChatGateInstance,
    Checkout,
    checkout,
    free_port,
    git_out,
)
from bench.config import ROOT, RunConfig, parse
from bench.protocol import Shape, answer, new_marker, prompt
from bench.report import write_report
from bench.seed import seed
from bench.steps import Context, StepResult, run_step, wait_fake_idle
from bench.targets import ChatGateTarget, OpenAITarget, Target
from bench.targets_check import ISSUE, path_label, verdicts, workers_summary
from bench.workers import cores, shared_storage
from bench.workers import stored_everything as stored_in_postgres

ADMIN = "bench-admin"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_fake(config: RunConfig, workdir: Path) -> tuple[procs.Child, int]:
    shape = config.shape
    fake = procs.Child(
        "fake",
        [
            sys.executable,
            "-m",
            "bench.fake_upstream",
            "--port",
            "0",
            "--tokens",
            str(shape.tokens),
            "--rate",
            str(shape.rate),
            "--ttft",
            str(shape.ttft),
        ],
        log=workdir / "fake.log",
        core=config.harness_core,
        stdout_pipe=True,
    )
    return fake, int(fake.read_line("LISTENING "))


def stored_everything(database: Path, tokens: int) -> dict[str, int]:
    """Every answer given to the stream users, straight from SQLite after the server stopped."""
    expected = answer(tokens)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT m.status, m.content = ? FROM messages m JOIN users u ON u.id = m.user_id "
            "WHERE m.role = 'assistant' AND u.username LIKE 'bench-user-%'",
            (expected,),
        ).fetchall()
    return tally(rows)


def tally(rows: list[Any]) -> dict[str, int]:
    """(status, content is exactly the expected answer) of each stored answer, counted."""
    return {
        "answers": len(rows),
        "complete_and_exact": sum(1 for status, exact in rows if status == "complete" and exact),
        "not_complete": sum(1 for status, _ in rows if status != "complete"),
    }


async def make_users(api: ChatGateApi, instance: ChatGateInstance, count: int) -> list[UserSession]:
    password = secrets.token_urlsafe(18)
    admin = await api.login(ADMIN, instance.admin_password)
    names = [f"bench-user-{i:03d}" for i in range(count)] + ["bench-bystander"]
    for name in names:
        await api._json("POST", "/api/admin/users", admin, {"username": name, "password": password})
    return list(await asyncio.gather(*(api.login(name, password) for name in names)))


async def detect_v1(
    api: ChatGateApi,
    users: list[UserSession],
    pid: int,
    name: str = "chatgate-v1",
    key: str | None = None,
) -> tuple[Target | None, str]:
    """ChatGate's OpenAI-compatible endpoint, when it exists, with a personal key per user."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt(new_marker(), Shape(1, 0, 0))}],
        "stream": True,
    }
    status = await api.probe("/v1/chat/completions", None, body)
    if status in (404, 405):  # 405: the web app's static files answered, no such route
        return None, f"ChatGate has no `/v1/chat/completions` yet (HTTP {status}): skipped."
    base = f"{api.base}/v1"
    if key:
        return OpenAITarget(name, base, MODEL, key, pid=pid), ""
    keys = [await api.create_api_key(user) for user in users]
    if all(keys):
        return OpenAITarget(name, base, MODEL, keys=[str(k) for k in keys], pid=pid), ""
    return None, (
        f"ChatGate's `/v1/chat/completions` answered HTTP {status} without a key and no key "
        "could be made at `/api/account/keys`: pass `--v1-key` to include it."
    )


async def warm_up(ctx: Context, targets: list[Target]) -> None:
    """One short step on every gateway, not measured (imports, caches, connection pools)."""
    config = ctx.config
    saved = (config.window, config.floor_window, config.bystander_window, config.settle)
    config.window = config.floor_window = 1.0
    config.bystander_window, config.settle = 0.0, 0.0
    try:
        for target in targets[1:]:
            await run_step(ctx, target, min(10, max(config.steps)), gateway=False)
    finally:
        config.window, config.floor_window, config.bystander_window, config.settle = saved


async def wait_quiet(limit: float, threshold: float = 0.25) -> float:
    """Until other processes use less than `threshold` of a core (at most `limit` seconds);
    returns the background load last seen. Our own processes are idle between steps."""
    deadline = time.monotonic() + limit
    while True:
        before = procs.busy_seconds()
        await asyncio.sleep(1.0)
        background = procs.busy_seconds() - before
        if background < threshold or time.monotonic() >= deadline:
            return background


async def measure_idle(chatgate: procs.Child, seconds: float = 3.0) -> dict[str, float]:
    pids = procs.tree(chatgate.pid)
    cpu0 = procs.cpu_seconds(pids)
    await asyncio.sleep(seconds)
    return {
        "pss_mb": procs.pss_kb(pids) / 1024,
        "rss_mb": procs.rss_kb(pids) / 1024,
        "cpu_util": (procs.cpu_seconds(pids) - cpu0) / seconds,
    }


async def measure_idle_when_quiet(ctx: Context, chatgate: procs.Child | None) -> dict[str, float]:
    """Idle memory once a load (the warm-up, or the steps) is over: no stream left at the fake,
    then `idle_after_wait` seconds of quiet (ChatGate gives freed memory back when it has gone
    quiet), then `measure_idle`."""
    if chatgate is None:
        return {}
    await wait_fake_idle(ctx)
    quiet = time.monotonic()
    await asyncio.sleep(ctx.config.idle_after_wait)
    idle = await measure_idle(chatgate)
    idle["quiet_s"] = time.monotonic() - quiet
    return idle


def workers_runs(config: RunConfig, report: dict[str, Any]) -> dict[str, Any]:
    """The 1-worker and 2-worker results the workers verdict compares: this run when it is one
    of them, the others from bench/results/workers-N.json (of the same kind, quick or full)."""
    runs: dict[str, Any] = {}
    for count in (1, 2):
        if config.workers == count:
            runs[str(count)] = workers_summary(report, "this run")
            continue
        path = config.results / f"workers-{count}{'-quick' if config.quick else ''}.json"
        with contextlib.suppress(OSError, ValueError):
            other = orjson.loads(path.read_bytes())
            if (other.get("workers") or {}).get("count") == count:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                runs[str(count)] = workers_summary(other, str(shown))
    return runs


async def run(config: RunConfig) -> dict[str, Any]:
    procs.pin_self(config.harness_core, config.nice)
    # `kill` (SIGTERM) cancels the run like Ctrl-C does, so the finally blocks stop the children.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="chatgate-bench-"))
    log(f"work directory {workdir}")
    report: dict[str, Any] = {
        "machine": machine(),
        "command": config.command,
        "shape": {"tokens": config.shape.tokens, "rate": config.shape.rate},
        "nice": config.nice,
        "chatgate_env": config.chatgate_env,
        "notes": [],
        "steps": [],
    }
    report["load"] = {"start": os.getloadavg()[0]}
    before = after = None
    if config.baseline:
        before = checkout(config.baseline, workdir / "tree-baseline")
        log(f"baseline {config.baseline} = {before.sha[:10]} ({before.subject}) in {before.src}")
        if config.current:
            after = checkout(config.current, workdir / "tree-current")
            log(f"current {config.current} = {after.sha[:10]} ({after.subject}) in {after.src}")
    current_src = after.src if after else None
    fake, fake_port = start_fake(config, workdir)
    fake_url = f"http://127.0.0.1:{fake_port}"
    chatgate: procs.Child | None = None
    old: procs.Child | None = None
    old_instance: ChatGateInstance | None = None
    started_at = time.monotonic()
    storage = contextlib.ExitStack()
    try:
        # Start-up time: once on an empty data directory, once on the migrated bench database.
        cold = ChatGateInstance(workdir / "cold", fake_port, current_src)
        child, cold_seconds = cold.serve(free_port(), config.target_core, workdir / "cold.log")
        child.stop()
        instance = ChatGateInstance(workdir / "main", fake_port, current_src)
        instance.env |= config.chatgate_env
        database_url = None
        target_cores: int | list[int] | None = config.target_core
        if config.workers:
            database_url = storage.enter_context(shared_storage(instance))
            target_cores = cores(config.target_core, config.workers)
            report["workers"] = {"count": config.workers, "cores": target_cores}
            log(
                f"`chatgate serve --workers {config.workers}` on PostgreSQL + Redis, cores {target_cores}"
            )
        instance.add_admin(ADMIN)
        port = free_port()
        chatgate, warm_seconds = instance.serve(
            port, target_cores, workdir / "chatgate.log", config.workers or 1
        )
        report["startup_s"] = {"empty_data_dir": cold_seconds, "existing_database": warm_seconds}
        log(f"ChatGate pid {chatgate.pid} on :{port}; started in {warm_seconds:.2f} s")
        if before is not None:
            report["current"] = version_info(instance, after, config.current)
            old_instance = ChatGateInstance(workdir / "baseline", fake_port, before.src)
            old_instance.env |= config.chatgate_env
            old_instance.add_admin(ADMIN)
            old_port = free_port()
            old, old_seconds = old_instance.serve(
                old_port, config.target_core, workdir / "baseline.log"
            )
            report["baseline"] = version_info(old_instance, before, config.baseline)
            report["baseline"]["startup_s"] = {"existing_database": old_seconds}
            log(
                f"baseline ChatGate pid {old.pid} on :{old_port}; started in {old_seconds:.2f} s; "
                f"code {report['baseline']['code']}, migration {report['baseline']['migration']}"
            )

        async with new_http() as http:
            api = ChatGateApi(f"http://127.0.0.1:{port}", http)
            users = await make_users(api, instance, config.users)
            bystander_user, stream_users = users[-1], users[:-1]
            log("seeding 200 conversations and one of 1,000 messages")
            seeded = await seed(api, bystander_user, instance.database)
            report["seeding"] = seeded.method
            log(f"seeded ({seeded.method})")
            ctx = Context(config, http, fake_url, fake.pid, api, seeded)

            targets: list[Target] = [
                OpenAITarget("direct", f"{fake_url}/v1", MODEL),
                ChatGateTarget("chatgate", api, stream_users, chatgate.pid),
            ]
            v1, note = await detect_v1(api, stream_users, chatgate.pid, key=config.v1_key)
            if v1 is not None:
                targets.append(v1)
            if note:
                report["notes"].append(note)
                log(note)
            if old is not None and old_instance is not None:
                old_api = ChatGateApi(f"http://127.0.0.1:{old_port}", http)
                old_users = await make_users(old_api, old_instance, config.users)
                log("seeding the baseline the same way")
                old_seeded = await seed(old_api, old_users[-1], old_instance.database)
                report["baseline"]["seeding"] = old_seeded.method
                log(f"seeded ({old_seeded.method})")
                label = f"@{report['baseline']['sha'][:7]}"
                olds: list[Target] = [
                    ChatGateTarget(f"chatgate{label}", old_api, old_users[:-1], old.pid, old_seeded)
                ]
                old_v1, note = await detect_v1(
                    old_api, old_users[:-1], old.pid, f"chatgate-v1{label}"
                )
                if old_v1 is not None:
                    olds.append(old_v1)
                if note:
                    report["notes"].append(f"baseline: {note}")
                report["current"]["targets"] = [t.name for t in targets[1:]]
                report["baseline"]["targets"] = [t.name for t in olds]
                # Each current target followed by its baseline twin: chatgate, chatgate@…, …
                targets = [targets[0], *interleave(targets[1:], olds)]
            for name, url in config.targets:
                targets.append(OpenAITarget(name, url, config.model, config.api_key))
            await wait_fake_idle(ctx)

            await warm_up(ctx, targets)
            # Idle measured as the idle after the load is: once the warm-up's answers have left
            # the replay window and the server has gone quiet, so the two compare like for like.
            log(f"idle memory once quiet for {config.idle_after_wait:g} s")
            report["idle"] = await measure_idle_when_quiet(ctx, chatgate)
            idle_probes = await run_probes(
                api, seeded, config.bystander_rate, time.monotonic() + config.bystander_window
            )
            report["idle"]["api"] = {name: p.summary() for name, p in idle_probes.items()}
            if old is not None:
                report["baseline"]["idle"] = await measure_idle(old)

            report["steps"] = await run_steps(ctx, targets, report)
            report["profile"] = await run_profile(ctx, targets, chatgate, workdir, report)
            log(f"idle memory again once quiet for {config.idle_after_wait:g} s")
            report["idle_after"], old_after = await asyncio.gather(
                measure_idle_when_quiet(ctx, chatgate), measure_idle_when_quiet(ctx, old)
            )
            if old is not None:
                report["baseline"]["idle_after"] = old_after
        exit_code = chatgate.stop(30)
        chatgate = None
        report["shutdown_exit_code"] = exit_code
        report["stored"] = (
            stored_in_postgres(database_url, config.shape.tokens)
            if database_url
            else stored_everything(instance.database, config.shape.tokens)
        )
        if old is not None and old_instance is not None:
            report["baseline"]["shutdown_exit_code"] = old.stop(30)
            old = None
            report["baseline"]["stored"] = stored_everything(
                old_instance.database, config.shape.tokens
            )
    finally:
        if chatgate is not None:
            chatgate.stop()
        if old is not None:
            old.stop()
        fake.stop()
        storage.close()  # the scratch database of a workers run
    report["load"]["end"] = os.getloadavg()[0]
    report["duration_s"] = time.monotonic() - started_at
    report["workdir"] = str(workdir)
    return report


async def run_steps(
    ctx: Context, targets: list[Target], report: dict[str, Any]
) -> list[dict[str, Any]]:
    config = ctx.config
    floor, gateways = targets[0], targets[1:]
    active = list(gateways)
    out: list[dict[str, Any]] = []
    quiet_budget = config.quiet_budget
    for step in config.steps:
        if not active:
            break
        failed: list[Target] = []
        for round_no in range(1, config.repeat + 1):
            # Every other round in reverse (A B B A …), so a drift in the machine's load
            # weighs on every target alike; the floor once per step.
            order = active if round_no % 2 else active[::-1]
            for target in [floor, *order] if round_no == 1 else order:
                waited = time.monotonic()
                background = await wait_quiet(min(config.quiet_wait, quiet_budget))
                quiet_budget = max(0.0, quiet_budget - (time.monotonic() - waited))
                if background >= 0.25:
                    log(f"other processes use {background:.0%} of a core: numbers will suffer")
                rounds = f" (round {round_no} of {config.repeat})" if config.repeat > 1 else ""
                log(f"{target.name}: step {step}{rounds} …")
                result = await run_step(ctx, target, step, gateway=target is not floor)
                result.round = round_no
                out.append(result.as_dict())
                log(_summary_line(result))
                if target is not floor and not result.passed and target not in failed:
                    failed.append(target)
                    # A before/after run measures every step it was given (a busy machine can
                    # fail a step for both versions); a capacity run stops at the first failure.
                    then = "measured on" if config.baseline else "later steps skipped"
                    report["notes"].append(
                        f"{target.name} failed at step {step}{rounds}: "
                        f"{'; '.join(result.failures)}; {then}."
                    )
        for target in [] if config.baseline else failed:  # after every round of the step
            active.remove(target)
    return out


def interleave(current: list[Target], baseline: list[Target]) -> list[Target]:
    out: list[Target] = []
    for i in range(max(len(current), len(baseline))):
        out += current[i : i + 1] + baseline[i : i + 1]
    return out


def version_info(
    instance: ChatGateInstance, tree: Checkout | None, rev: str | None
) -> dict[str, Any]:
    """Which code an instance runs, checked: where its `chatgate` is imported from, and the
    migration its database was brought to."""
    code = instance.code_origin()
    expected = (tree.src if tree else Path(__file__).resolve().parent.parent / "src").resolve()
    if not Path(code).resolve().is_relative_to(expected):
        raise RuntimeError(f"chatgate imported from {code}, not from {expected}")
    if tree is None:
        sha = git_out("rev-parse", "HEAD")
        subject = git_out("log", "-1", "--format=%s", "HEAD")
        dirty = bool(git_out("status", "--porcelain", "--", "src"))
    else:
        sha, subject, dirty = tree.sha, tree.subject, False
    return {
        "rev": rev or "working tree",
        "sha": sha,
        "subject": subject,
        "uncommitted_changes": dirty,
        "code": code,
        "migration": instance.migration(),
    }


def _summary_line(result: StepResult) -> str:
    lat = result.latency

    def f(value: float | None, digits: int = 1) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    return (
        f"  {result.target} K={result.k}: tokens {lat.tokens_in_window}, errors {lat.errors}, "
        f"TTFT p50/p99 {f(lat.ttft_ms.get('p50'))}/{f(lat.ttft_ms.get('p99'))} ms, "
        f"token p50/p99 {f(lat.token_ms.get('p50'), 2)}/{f(lat.token_ms.get('p99'), 2)} ms, "
        f"CPU {f(result.cpu_ms_per_1k, 2)} ms/1k tok ({f((result.cpu_util or 0) * 100, 0)} %), "
        f"PSS {f(result.pss_mb)} MB, fake {f((result.fake_util or 0) * 100, 0)} % "
        f"({f(result.fake_us_per_token)} µs/token), pauses {_pauses(result.pauses)}, "
        f"driver {f((result.driver_util or 0) * 100, 0)} %, "
        f"others {f((result.background_util or 0) * 100, 0)} %"
        + (f", stored {result.stored_ok}/{result.stored_checked}" if result.stored_checked else "")
        + ("" if result.passed else f"  FAILED: {'; '.join(result.failures)}")
    )


def _pauses(pauses: dict[str, Any] | None) -> str:
    if not pauses:
        return "–"
    worst = pauses["worst_share"]
    return f"{pauses['pauses']} (worst {worst * 100:.0f} % late)" if worst else "0"


async def run_profile(
    ctx: Context,
    targets: list[Target],
    chatgate: procs.Child,
    workdir: Path,
    report: dict[str, Any],
) -> dict[str, Any] | None:
    """py-spy on ChatGate at `profile_k` streams (a separate, unmeasured step)."""
    config = ctx.config
    if config.profile_k is None:
        return None
    target = next(t for t in targets if isinstance(t, ChatGateTarget))
    passed = [s["k"] for s in report["steps"] if s["target"] == target.name and s["passed"]]
    if passed and max(passed) >= config.profile_k:
        k = config.profile_k
    else:  # ChatGate did not hold that many streams: profile the largest step it held
        k = max(passed) if passed else min(config.concurrency(s) for s in config.steps)
    seconds = config.profile_seconds
    await target.before_step(k * (2 + round(seconds / config.shape.duration) + 2))
    log(f"profiling ChatGate with py-spy at {k} streams for {seconds} s")
    stop_at = time.monotonic() + config.ramp + 1 + seconds + 1
    from bench.driver import Driver

    driver = Driver(target, timeout=60)
    load = asyncio.create_task(driver.closed_loop(k, config.ramp, stop_at))
    await asyncio.sleep(config.ramp + 1)
    result = await asyncio.to_thread(
        profiler.record, chatgate.pid, seconds, workdir, config.harness_core
    )
    await load
    await wait_fake_idle(ctx)
    data = {
        "k": k,
        "seconds": seconds,
        "samples": result.samples,
        "functions": result.functions,
        "packages": result.packages,
        "threads": result.threads,
        "chatgate": result.chatgate,
        "raw": result.raw_path,
        "svg": result.svg_path,
        "note": result.note,
    }
    if result.note:
        log(result.note)
    return data


def main(argv: list[str] | None = None) -> None:
    config = parse(argv)
    import uvloop

    # The driver allocates little that is cyclic; a full collection mid-window would show up as
    # a latency spike on every stream, so collect between steps instead (steps.py).
    gc.set_threshold(200_000, 50, 100)
    report = uvloop.run(run(config))
    config.results.mkdir(parents=True, exist_ok=True)
    # A before/after run keeps the main run's raw numbers (latest.json) as they are.
    name = "baseline.json" if config.baseline else "quick.json" if config.quick else "latest.json"
    if config.workers:
        name = f"workers-{config.workers}{'-quick' if config.quick else ''}.json"
    # Issue 17's workers verdict: 1 worker against 2, from this run and/or earlier ones.
    report["workers_runs"] = workers_runs(config, report)
    (config.results / name).write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    group = ""
    for verdict in verdicts(report):
        if verdict.group != group:
            group = verdict.group
            print("\nIssue 17 targets:" if group == ISSUE else "\nKept (must not regress):")
        print(
            f"  [{verdict.mark:>12}] {verdict.target} ({path_label(verdict.path)}): "
            f"{verdict.measured}"
        )
    for note in report["notes"]:
        print(f"note: {note}")
    written = [config.results / name]
    if config.write_docs:
        written += write_report(report, config)
    log(f"done in {report['duration_s']:.0f} s; wrote {', '.join(str(p) for p in written)}")
