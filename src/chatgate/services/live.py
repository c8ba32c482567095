"""A generation while it runs: its event log, its text so far, and the clients waiting for more.

The log is kept whole until the generation has been finished for a while, so a client that
reconnects with `Last-Event-ID: n` gets exactly the events after `n`. Deltas are stored as the
bare text pieces (the answer is their concatenation); other events as small dicts. Nothing per
token grows with the length of the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

START = "start"
QUEUED = "queued"
STREAMING = "streaming"
DELTA = "delta"
RESET = "reset"
USAGE = "usage"
TITLE = "title"
ERROR = "error"
DONE = "done"

LIVE_STATUSES = frozenset({"queued", "streaming"})


class LiveGeneration:
    __slots__ = (
        "_waiters",
        "admitted_at",
        "completion_tokens",
        "conversation_id",
        "credential",
        "dirty",
        "error",
        "finish_reason",
        "finished_at",
        "first_token_at",
        "id",
        "kinds",
        "last_activity",
        "model",
        "payloads",
        "prefix",
        "prompt_tokens",
        "provider",
        "provider_state",
        "status",
        "stop_reason",
        "stored",
        "subscribers",
        "task",
        "usage_id",
        "user_id",
        "user_message_id",
    )

    def __init__(
        self,
        *,
        id: str,
        user_id: str,
        conversation_id: str,
        user_message_id: str,
        model: str,
        provider: str,
        prefix: str = "",
        now: float,
    ) -> None:
        self.id = id
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.user_message_id = user_message_id
        self.model = model
        self.provider = provider
        self.prefix = prefix  # text of an answer being continued
        self.status = "queued"
        self.kinds: list[str] = []
        self.payloads: list[Any] = []
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.error: tuple[str, str] | None = None
        self.provider_state: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop_reason: str | None = None
        self.dirty = False
        self.subscribers = 0
        self.admitted_at: float | None = None
        self.first_token_at: float | None = None
        self.last_activity = now
        self.finished_at: float | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self.usage_id = ""
        self.stored = True  # False for /v1 answers, which live only in the ledger
        self.credential: str | None = None
        self.finish_reason: str | None = None

    # -- producing --------------------------------------------------------------------------
    def emit(self, kind: str, payload: Any) -> None:
        self.kinds.append(kind)
        self.payloads.append(payload)
        self.wake()

    def add_text(self, text: str, now: float) -> None:
        """The per-token path: append, mark for the next checkpoint, wake the readers."""
        self.kinds.append(DELTA)
        self.payloads.append(text)
        self.dirty = True
        self.last_activity = now
        if self._waiters:
            self.wake()

    def wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # -- reading ----------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """Id of the latest event (ids start at 1)."""
        return len(self.kinds)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def text(self) -> str:
        return self.prefix + "".join(
            p for k, p in zip(self.kinds, self.payloads, strict=True) if k == DELTA
        )

    def generated_text(self) -> str:
        return "".join(p for k, p in zip(self.kinds, self.payloads, strict=True) if k == DELTA)

    async def wait(self) -> None:
        """Until the next event (or a heartbeat nudge)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter.cancelled():  # this reader left
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
