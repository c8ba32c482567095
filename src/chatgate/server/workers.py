"""`chatgate serve --workers N`: N ChatGate processes on one machine serving one port.

Each worker is a whole ChatGate process (its own event loop and Services) that binds host:port
with SO_REUSEPORT, so the kernel spreads new connections over the workers. They share state
through Redis and PostgreSQL exactly as separate instances do (docs/scaling.md): nothing here
routes requests. The parent is a small supervisor: it starts the workers, prints one "serving"
line once every worker listens, turns SIGTERM/SIGINT into a graceful stop of every worker,
restarts a worker that dies (with a back-off) and gives up, exiting 1, when one keeps dying.

Workers are spawned, not forked: a fresh interpreter inherits no threads, database connections
or event loop from the parent, which has run the migrations.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

import structlog
from rich.console import Console

from chatgate.config import Settings
from chatgate.server.announce import Tls, base_url, console, notices, serving_line
from chatgate.server.lifecycle import serve
from chatgate.services.container import Services

log = structlog.get_logger(__name__)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

FIRST_BACKOFF = 0.5  # seconds before restarting a worker that died, doubling …
MAX_BACKOFF = 15.0  # … up to this
STABLE_AFTER = 60.0  # a worker that lived this long starts again with a clean record
GIVE_UP_AFTER = 5  # deaths in a row of one worker, each within STABLE_AFTER of its start
STOP_MARGIN = 10.0  # seconds beyond a worker's own shutdown bound before it is killed


def bind(host: str, port: int, *, reuse_port: bool) -> list[socket.socket]:
    """Bound, not yet listening, sockets for host:port: one per address it resolves to, as
    asyncio's create_server binds for a single process."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass(frozen=True)
class WorkerSpec:
    settings: Settings
    tls: Tls | None
    index: int
    announce: bool  # say which model answers and print the setup link: worker 0, first start


def worker_main(spec: WorkerSpec, ready: Connection) -> None:
    """A worker process: serve on its own SO_REUSEPORT sockets until SIGTERM, and tell the
    supervisor (with the lines to print) once it listens."""
    from chatgate import logging as chatgate_logging

    chatgate_logging.configure(spec.settings.log_level, spec.settings.log_format)
    structlog.contextvars.bind_contextvars(worker=spec.index)
    _stop_with_parent()
    sockets = bind(spec.settings.host, spec.settings.port, reuse_port=True)
    lines: list[str] = []

    async def started(services: Services) -> None:
        if spec.announce:
            lines.extend(await notices(services, base_url(spec.settings, spec.tls)))

    def listening() -> None:
        ready.send(lines)
        ready.close()

    serve(
        spec.settings,
        spec.tls,
        on_started=started,
        sockets=sockets,
        on_listening=listening,
        sigint_forces=False,
    )


def _stop_with_parent() -> None:
    """A supervisor killed with SIGKILL cannot forward anything: stop gracefully once it is
    gone rather than keep serving the port unsupervised."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@dataclass
class _Worker:
    index: int
    process: BaseProcess | None = None
    ready: Connection | None = None  # until the worker says it listens (or dies)
    listening: bool = False
    started_at: float = 0.0
    starts: int = 0
    deaths: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, settings: Settings, tls: Tls | None, count: int) -> None:
        self.settings = settings
        self.tls = tls
        self.workers = [_Worker(index) for index in range(count)]
        self.context = multiprocessing.get_context("spawn")
        self.signals = 0
        self.serving = False
        self.notices: list[str] = []

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; 0 after a clean stop, 1 when workers kept dying."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        # The signal's byte on this socket wakes the wait below at once.
        previous_fd = signal.set_wakeup_fd(wake_w.fileno())
        try:
            for worker in self.workers:
                self._start(worker)
            gave_up = self._supervise(wake_r)
            clean = self._stop()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            wake_r.close()
            wake_w.close()
        return 1 if gave_up or not clean else 0

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signals += 1

    def _start(self, worker: _Worker) -> None:
        receiver, sender = self.context.Pipe(duplex=False)
        spec = WorkerSpec(
            self.settings, self.tls, worker.index, worker.index == 0 and not worker.starts
        )
        process = self.context.Process(
            target=worker_main, args=(spec, sender), name=f"chatgate-worker-{worker.index}"
        )
        process.start()
        sender.close()  # only the worker holds the sending end: its death reads as end-of-file
        worker.process, worker.ready, worker.listening = process, receiver, False
        worker.started_at, worker.restart_at = time.monotonic(), None
        worker.starts += 1
        if worker.starts > 1:
            log.warning("worker restarted", worker=worker.index, pid=process.pid)

    def _supervise(self, wake: socket.socket) -> bool:
        """Until a signal: True when a worker died while starting or kept dying."""
        while not self.signals:
            waiting: list[Connection | socket.socket | int] = [wake]
            for worker in self.workers:
                if worker.process is not None:
                    waiting.append(worker.process.sentinel)
                if worker.ready is not None:
                    waiting.append(worker.ready)
            restarts = [w.restart_at for w in self.workers if w.restart_at is not None]
            timeout = max(0.0, min(restarts) - time.monotonic()) if restarts else None
            woken = wait(waiting, timeout)
            with contextlib.suppress(BlockingIOError):
                while wake.recv(64):
                    pass
            if self.signals:
                break
            for worker in self.workers:
                if worker.ready is not None and worker.ready in woken:
                    self._heard(worker)
                died = worker.process is not None and worker.process.sentinel in woken
                if died and self._died(worker):
                    return True
                if worker.restart_at is not None and worker.restart_at <= time.monotonic():
                    self._start(worker)
        return False

    def _heard(self, worker: _Worker) -> None:
        assert worker.ready is not None
        try:
            lines: list[str] | None = worker.ready.recv()
        except EOFError:  # it died before listening; its sentinel tells the rest
            lines = None
        worker.ready.close()
        worker.ready = None
        worker.listening = lines is not None
        if lines:
            self.notices = lines
        if self.serving and lines is not None:
            assert worker.process is not None
            log.info(
                "the restarted worker listens again", worker=worker.index, pid=worker.process.pid
            )
        if not self.serving and all(w.listening and w.process for w in self.workers):
            self.serving = True
            console.print(serving_line(self.settings, self.tls, len(self.workers)))
            for line in self.notices:
                console.print(line)

    def _died(self, worker: _Worker) -> bool:
        assert worker.process is not None
        process, worker.process = worker.process, None
        process.join()
        if worker.ready is not None:
            worker.ready.close()
            worker.ready = None
        now = time.monotonic()
        facts = {"worker": worker.index, "pid": process.pid, "exit_code": process.exitcode}
        if not self.serving:
            # As a single process does, a start-up failure (Redis or the port unreachable, a bad
            # provider) stops ChatGate instead of being retried forever.
            log.error("a worker stopped while starting; stopping ChatGate", **facts)
            return True
        worker.deaths = 1 if now - worker.started_at >= STABLE_AFTER else worker.deaths + 1
        if worker.deaths >= GIVE_UP_AFTER:
            log.error("a worker keeps dying; stopping ChatGate", deaths=worker.deaths, **facts)
            return True
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (worker.deaths - 1))
        log.error("a worker died; restarting it", restart_in_s=delay, **facts)
        worker.restart_at = now + delay
        return False

    def _stop(self) -> bool:
        """SIGTERM to every worker, then wait: answers finish within the grace period or are
        stored `interrupted`, as on a single process. True when every worker stopped cleanly."""
        # A worker still starting dies of the SIGTERM (its handlers are not installed yet); it
        # had no answers to finish, so that is a clean stop too.
        running = [(w.process, not w.listening) for w in self.workers if w.process is not None]
        for process, _ in running:
            if process.is_alive():
                process.terminate()
        signals_seen = self.signals
        bound = self.settings.shutdown_grace_seconds + 3 + STOP_MARGIN
        deadline = time.monotonic() + bound
        clean = True
        for process, starting in running:
            # A second Ctrl-C (or SIGTERM) means "now": no more waiting.
            while (
                process.is_alive() and time.monotonic() < deadline and self.signals <= signals_seen
            ):
                process.join(0.2)
            if process.is_alive():
                log.error("a worker did not stop in time; killing it", pid=process.pid)
                process.kill()
                process.join()
                clean = False
            elif process.exitcode != 0 and not (starting and process.exitcode == -signal.SIGTERM):
                log.error(
                    "a worker stopped with an error", pid=process.pid, exit_code=process.exitcode
                )
                clean = False
        return clean


def run_workers(settings: Settings, tls: Tls | None, count: int) -> int:
    """The supervisor's exit code. The parent binds host:port once without SO_REUSEPORT first:
    otherwise a second ChatGate already serving that port would silently share it."""
    try:
        for sock in bind(settings.host, settings.port, reuse_port=False):
            sock.close()
    except OSError as exc:
        err.print(
            f"[red]Cannot listen on {settings.host}:{settings.port}:[/] {exc.strerror or exc}"
        )
        return 1
    return Supervisor(settings, tls, count).run()
