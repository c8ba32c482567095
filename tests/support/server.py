"""ChatGate as a real process (`chatgate serve`), for tests of what survives crashes and restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.nginx import free_port


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def write_config(path: Path, providers: list[dict[str, Any]], **settings: Any) -> Path:
    lines = [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    for provider in providers:
        lines.append("[[providers]]")
        for key, value in provider.items():
            if key != "credentials":
                lines.append(f"{key} = {toml_value(value)}")
        for credential in provider.get("credentials", []):
            lines.append("[[providers.credentials]]")
            lines += [f"{key} = {toml_value(value)}" for key, value in credential.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class ChatGateProcess:
    def __init__(self, data_dir: Path, config: Path | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CHATGATE_", "OPENAI_", "AUTH_SECRET"))
        }
        env["CHATGATE_DATA_DIR"] = str(self.data_dir)
        if self.config is not None:
            env["CHATGATE_CONFIG_FILE"] = str(self.config)
        env.update(self.env)
        return env

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chatgate", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.environment(),
            timeout=60,
            check=True,
        )

    def start(self, timeout: float = 20.0) -> ChatGateProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatgate",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chatgate exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"chatgate did not become ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        """`kill -9`: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)
