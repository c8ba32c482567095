"""Where ChatGate's CPU goes under load: py-spy samples of the running server, summarised by own
time per function and per package (the leaf frame of each sample)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import pinned

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_ENTRY = ("main (", "serve (", "<module> (")  # the CLI frames under everything
_PACKAGE = re.compile(r"(?:site-packages|lib/python3\.\d+)/(?P<pkg>[A-Za-z0-9_]+)")


@dataclass
class Profile:
    samples: int = 0
    functions: list[tuple[str, float]] = field(default_factory=list)  # (function, share of samples)
    packages: list[tuple[str, float]] = field(default_factory=list)
    threads: list[tuple[str, float]] = field(default_factory=list)
    # ChatGate's own functions with everything they call (inclusive), on any thread.
    chatgate: list[tuple[str, float]] = field(default_factory=list)
    raw_path: str | None = None
    svg_path: str | None = None
    note: str | None = None


def py_spy() -> str | None:
    venv = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return str(venv) if venv.exists() else shutil.which("py-spy")


def _package(file: str) -> str:
    if "/chatgate/" in file or file.startswith("chatgate/"):
        return "chatgate"
    found = _PACKAGE.search(file)
    if found:
        return found.group("pkg")
    return file.rsplit("/", 1)[-1] or "?"


def _short(frame: str) -> tuple[str, str]:
    parsed = _FRAME.match(frame.strip())
    if not parsed:
        return frame.strip(), "?"
    file = parsed.group("file")
    tail = "/".join(file.split("/")[-2:])
    return f"{parsed.group('func')} ({tail})", _package(file)


def summarise(collapsed: str, top: int = 25) -> Profile:
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[0].startswith("thread ("):  # `--threads`: "thread (tid): name"
            threads[frames[0].partition(": ")[2] or frames[0]] += count
        seen: set[str] = set()
        for frame in frames:
            short, package = _short(frame)
            if package == "chatgate" and short not in seen and not short.startswith(_ENTRY):
                seen.add(short)
                inclusive[short] += count
        leaf = frames[-1]
        name, package = _short(leaf)
        own[name] += count
        packages[package] += count
        total += count
    profile = Profile(samples=total)
    if total:
        profile.functions = [(name, n / total) for name, n in own.most_common(top)]
        profile.packages = [(name, n / total) for name, n in packages.most_common(15)]
        profile.threads = [(name, n / total) for name, n in threads.most_common(8)]
        profile.chatgate = [(name, n / total) for name, n in inclusive.most_common(top)]
    return profile


def record(pid: int, seconds: int, out_dir: Path, core: int | None) -> Profile:
    """Sample `pid` for `seconds` (raw collapsed stacks, then a flame graph of the same load)."""
    binary = py_spy()
    if binary is None:
        return Profile(note="py-spy is not installed; `pip install py-spy` to profile")
    raw = out_dir / "profile-chatgate.txt"
    svg = out_dir / "profile-chatgate.svg"
    base = [binary, "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--threads"]
    first = max(1, seconds * 2 // 3)
    done = subprocess.run(
        pinned([*base, "--duration", str(first), "--format", "raw", "-o", str(raw)], core),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0 or not raw.exists():
        return Profile(note=f"py-spy failed: {done.stderr.decode(errors='replace')[-300:]}")
    profile = summarise(raw.read_text())
    profile.raw_path = str(raw)
    flame = subprocess.run(
        pinned([*base, "--duration", str(max(1, seconds - first)), "-o", str(svg)], core),
        capture_output=True,
        check=False,
    )
    if flame.returncode == 0 and svg.exists():
        profile.svg_path = str(svg)
    return profile
