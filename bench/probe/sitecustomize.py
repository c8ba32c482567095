"""The request timeline probe: where a question's time goes before its upstream request is sent.

Loaded into `chatgate serve` through `PYTHONPATH` (never shipped with ChatGate):

    python -m bench --steps 200 --window 15 --no-profile --no-docs \\
        --chatgate-env PYTHONPATH=bench/probe --chatgate-env BENCH_PROBE_LOG=/tmp/timeline.log
    python -m bench.timeline /tmp/timeline.log

For every POST it writes one line per mark — `<perf_counter> <request number> <mark>` — as the
request passes ChatGate's own layers: the request's arrival, each database read and
write (`>` on the way in, `<` on the way out), the generation's start and its task, and the
upstream request's send. Marks made outside a request (the ticker, the writer thread) carry 0.
Its own cost is some 20 µs a mark, so it adds about half a millisecond to what it measures.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import os
import time
from collections.abc import Callable
from typing import Any, TextIO

_request = contextvars.ContextVar("probe_request", default=0)
_numbers = itertools.count(1)


def _install(out: TextIO) -> None:
    import chatgate.app
    import chatgate.db.engine
    import chatgate.providers.wire
    import chatgate.services.chat
    import chatgate.services.generations.runner
    import chatgate.services.generations.service

    def mark(what: str) -> None:
        out.write(f"{time.perf_counter():.6f} {_request.get()} {what}\n")

    def spanned(owner: type, name: str, label: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(inner)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            fn = args[1] if len(args) > 1 and callable(args[1]) else None
            tag = f"{label} {getattr(fn, '__qualname__', '')}".rstrip()
            mark(f"{tag} >")
            try:
                return await inner(*args, **kwargs)
            finally:
                mark(f"{tag} <")

        setattr(owner, name, wrapper)

    app_call = chatgate.app.ChatGateApp.__call__

    async def arrival(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            _request.set(next(_numbers))
            mark(f"request {scope['path']}")
        await app_call(self, scope, receive, send)

    chatgate.app.ChatGateApp.__call__ = arrival  # type: ignore[method-assign]
    database = chatgate.db.engine.Database
    for method in ("read", "write"):
        spanned(database, method, method)
    stages = database.write_in_stages

    def staged(self: Any, fn: Any) -> Any:
        tag = f"write {getattr(fn, '__qualname__', '')}"
        mark(f"{tag} >")
        written = stages(self, fn)
        written.ran.add_done_callback(lambda _: mark(f"{tag} ran"))
        written.committed.add_done_callback(lambda _: mark(f"{tag} committed"))
        return written

    database.write_in_stages = staged  # type: ignore[method-assign]
    spanned(chatgate.services.chat.Chat, "send", "chat.send")
    spanned(chatgate.services.generations.service.Generations, "start", "generation.start")
    spanned(chatgate.services.generations.runner.Runner, "run", "upstream.run")
    spanned(chatgate.providers.wire.UpstreamClient, "_send", "upstream.send")


_log = os.environ.get("BENCH_PROBE_LOG")
if _log:
    _install(open(_log, "a", buffering=1))  # noqa: SIM115 - open for the life of the process
