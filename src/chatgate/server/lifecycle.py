"""How one ChatGate server process starts and stops: the app under uvicorn, a hook once it
listens, and a graceful stop on SIGTERM or Ctrl-C (answers in flight finish within the grace
period or are stored `interrupted`, then the process exits 0).

`chatgate serve` runs `serve()` once in its own process; `chatgate serve --workers N` runs it in
each worker, on sockets the worker bound itself (`chatgate.server.workers`). Only uvicorn's public
`Server` API is used: `handle_exit`, `startup`, `shutdown` and the `should_exit`/`force_exit` flags.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from chatgate.app import create_app
from chatgate.config import Settings
from chatgate.server.announce import Tls
from chatgate.services.container import Services
from chatgate.services.memory import limit_malloc_arenas


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

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn's own handler also records the signal to raise it again after a graceful
        # shutdown, so the process would "die of SIGTERM"; systemd and CI read that as a failure.
        # Setting its public flags instead, a clean stop exits 0.
        # A second Ctrl-C forces the exit, as in uvicorn, except in a worker: it hears Ctrl-C from
        # the terminal *and* SIGTERM from its supervisor, which must not cut answers short.
        if sig == signal.SIGINT and self.should_exit and self.sigint_forces:
            self.force_exit = True
        else:
            self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_listening is not None:
            self.on_listening()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
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
    limit_malloc_arenas()  # before the database and worker threads start
    application = create_app(settings, on_started=on_started)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,  # the app applies ProxyHeadersMiddleware with our trusted list
        log_config=None,
        access_log=False,
        server_header=False,
        ws="none",  # no WebSocket route: the protocol and its library (~4 MB) stay unloaded
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
