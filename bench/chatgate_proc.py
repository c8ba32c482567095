"""ChatGate as the system under test: a throw-away data directory, a chatgate.toml whose only
provider is the fake, accounts made with the CLI, and `chatgate serve` pinned to its core.

`checkout(rev, …)` extracts ChatGate's source as it was at a git revision; an instance given
that `src` runs that code on the same .venv (PYTHONPATH goes before the editable install)."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import socket
import sqlite3
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
MODEL = "bench-model"


@dataclass(frozen=True)
class Checkout:
    rev: str  # as given on the command line
    sha: str
    subject: str
    src: Path  # put on PYTHONPATH


def git_out(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.strip()


def checkout(rev: str, dest: Path) -> Checkout:
    """`src/` of git revision `rev`, extracted under `dest` (`git archive`: the shared checkout,
    its index and its worktree list are left alone)."""
    sha = git_out("rev-parse", "--verify", f"{rev}^{{commit}}")
    subject = git_out("log", "-1", "--format=%s", sha)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", sha, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return Checkout(rev, sha, subject, dest / "src")


def chatgate_bin() -> str:
    candidate = VENV_BIN / "chatgate"
    return str(candidate) if candidate.exists() else "chatgate"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_text(fake_port: int) -> str:
    return f"""# Written by the benchmark harness (bench/chatgate_proc.py).
default_model = "{MODEL}"

[[providers]]
name = "fake"
kind = "openai"
base_url = "http://127.0.0.1:{fake_port}/v1"
models = ["{MODEL}"]

[[providers.credentials]]
api_key = "sk-bench"
concurrency = 100000
"""


class ChatGateInstance:
    """Files and environment of one ChatGate installation under `root`."""

    def __init__(self, root: Path, fake_port: int, src: Path | None = None) -> None:
        """`src`: run ChatGate's code from this directory instead of the installed one."""
        self.root = root
        self.src = src
        self.data_dir = root / "data"
        self.config = root / "chatgate.toml"
        self.admin_password = secrets.token_urlsafe(18)
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text(fake_port))
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CHATGATE_", "OPENAI_"))
            and key not in ("AUTH_SECRET_KEY", "API_REVERSE_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        }
        self.env |= {
            "CHATGATE_DATA_DIR": str(self.data_dir),
            "CHATGATE_CONFIG_FILE": str(self.config),
        }
        if src is not None:
            self.env["PYTHONPATH"] = str(src)

    def code_origin(self) -> str:
        """Where `chatgate` is imported from, with this instance's environment."""
        return subprocess.run(
            [str(VENV_BIN / "python"), "-c", "import chatgate; print(chatgate.__file__)"],
            env=self.env,
            capture_output=True,
            check=True,
            text=True,
        ).stdout.strip()

    def migration(self) -> str | None:
        """The database's Alembic revision (which migrations this code ran)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None

    @property
    def database(self) -> Path:
        return self.data_dir / "chatgate.db"

    def add_admin(self, username: str) -> None:
        """The first account, made with the CLI as an operator would (it migrates the database)."""
        subprocess.run(
            [chatgate_bin(), "user", "add", username, "--admin", "--password-stdin"],
            input=(self.admin_password + "\n").encode(),
            env=self.env,
            check=True,
            capture_output=True,
        )

    def serve(
        self, port: int, core: int | list[int] | None, log: Path, workers: int = 1
    ) -> tuple[Child, float]:
        """Start `chatgate serve` (with `--workers` above 1: on every core of `core`); returns the
        process and the seconds until /healthz answered and, with workers, all of them listen."""
        extra = ["--workers", str(workers)] if workers > 1 else []
        child = Child(
            "chatgate",
            [chatgate_bin(), "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            log=log,
            env=self.env,
            core=core,
        )
        started = time.monotonic()
        url = f"http://127.0.0.1:{port}/healthz"
        while time.monotonic() - started < 60:
            if child.proc.poll() is not None:
                raise RuntimeError(f"chatgate exited with {child.proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    # One worker answers /healthz before the rest listen; the supervisor prints
                    # its "serving" line once all do.
                    ready = workers == 1 or "ChatGate is serving" in log.read_text()
                    if resp.status == 200 and ready:
                        return child, time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.005)
        child.stop()
        raise RuntimeError(f"chatgate did not answer /healthz within 60 s; see {log}")
