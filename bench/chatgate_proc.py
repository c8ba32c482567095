"""ChatGate as the system under test: a throw-away data directory, a chatgate.toml whose only
provider is the fake, accounts made with the CLI, and `chatgate serve` pinned to its core."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.procs import Child

VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"
MODEL = "bench-model"


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

    def __init__(self, root: Path, fake_port: int) -> None:
        self.root = root
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

    def serve(self, port: int, core: int | None, log: Path) -> tuple[Child, float]:
        """Start `chatgate serve`; returns the process and the seconds until /healthz answered."""
        child = Child(
            "chatgate",
            [chatgate_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
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
                    if resp.status == 200:
                        return child, time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.005)
        child.stop()
        raise RuntimeError(f"chatgate did not answer /healthz within 60 s; see {log}")
