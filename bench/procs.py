"""Child processes pinned to cores, and what /proc says about them: CPU seconds (utime + stime of
the whole tree) and memory (PSS from smaps_rollup)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pinned(cmd: Sequence[str], core: int | Sequence[int] | None) -> list[str]:
    """`cmd` under taskset: one core, or a set of them (`--workers N`)."""
    if core is None or shutil.which("taskset") is None:
        return list(cmd)
    cores = ",".join(str(c) for c in core) if isinstance(core, Sequence) else str(core)
    return ["taskset", "-c", cores, *cmd]


def pin_self(core: int | None, nice: int = 0) -> None:
    """Pin this process (the driver) to `core`. A niceness (`--nice`; negative needs root) is
    inherited by every process started afterwards: ChatGate, the fake, py-spy. On a machine
    shared with other work it keeps unrelated processes from stealing the cores mid-window."""
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def tree(pid: int) -> list[int]:
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of each process (all its threads), summed."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


def pss_kb(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total


def rss_kb(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss // 1024
        except psutil.NoSuchProcess:
            continue
    return total


def busy_seconds() -> float:
    """CPU seconds spent not idle, all cores together, since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


def tcp_mem_pages() -> int:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            parts = line.split()
            return int(parts[parts.index("mem") + 1])
    return 0


class Child:
    """A subprocess with its output in a log file."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        core: int | Sequence[int] | None = None,
        stdout_pipe: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            pinned(cmd, core),
            stdout=subprocess.PIPE if stdout_pipe else self._log,
            stderr=self._log,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_line(self, prefix: str, timeout: float = 20.0) -> str:
        """The first stdout line starting with `prefix` (stdout_pipe only)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"{self.name} did not print {prefix!r}; see {self.log_path}")

    def cpu(self) -> float:
        return cpu_seconds(tree(self.pid))

    def pss(self) -> int:
        return pss_kb(tree(self.pid))

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        return self.proc.returncode
