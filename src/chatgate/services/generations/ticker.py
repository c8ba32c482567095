"""Once a second, for every running answer together: timeouts, checkpoints, forgetting.

- Timeouts are per phase — the first token, then the silence between tokens — never a deadline
  on the whole answer, so a slow but healthy answer is never cut off.
- Checkpoints append what every changed answer got since its last checkpoint, in one
  statement: a crash loses at most a second, there is never a write per token, and a
  checkpoint's cost does not grow with the length of the answers.
- Finished answers stay replayable for `stream_retention_seconds`, then are forgotten.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.models import AnswerStatus
from chatgate.db.repos import conversations as repo
from chatgate.errors import ChatGateError
from chatgate.ids import utcnow
from chatgate.services.live import LiveGeneration

log = structlog.get_logger(__name__)

CHECKPOINT_INTERVAL = 1.0
HEARTBEAT_AFTER = 15.0


class Ticker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        live: dict[str, LiveGeneration],
        recent: OrderedDict[str, LiveGeneration],
        *,
        every_few_ticks: Callable[[], Awaitable[Any]] | None = None,
        few: int = 5,
    ) -> None:
        self._db = db
        self._settings = settings
        self._live = live
        self._recent = recent
        self._every_few_ticks = every_few_ticks
        self._few = few
        self._ticks = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="generations-ticker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            self._ticks += 1
            try:
                self.enforce_timeouts()
                await self.checkpoint()
                self.forget_old()
                if self._every_few_ticks is not None and self._ticks % self._few == 0:
                    await self._every_few_ticks()
            except Exception as exc:
                log.error("generation ticker failed", exc_info=exc)

    def enforce_timeouts(self) -> None:
        now = asyncio.get_running_loop().time()
        settings = self._settings
        for generation in self._live.values():
            if generation.finished or generation.task is None or generation.task.done():
                continue
            if generation.status == AnswerStatus.streaming and generation.admitted_at is not None:
                if generation.first_output_at is None:
                    limit, since = settings.first_token_timeout, generation.admitted_at
                else:  # text or reasoning has arrived: only the silence since counts
                    limit, since = settings.idle_timeout, generation.last_activity
                if now - since > limit:
                    generation.stop_reason = "timeout"
                    generation.task.cancel()
                    continue
            if now - generation.last_activity > HEARTBEAT_AFTER:
                generation.wake()  # lets idle readers send a keep-alive comment

    async def checkpoint(self) -> None:
        appends: list[dict[str, Any]] = []
        rewrites: list[dict[str, Any]] = []
        taken: list[tuple[LiveGeneration, int]] = []
        now = utcnow()
        for generation in self._live.values():
            if generation.dirty and generation.stored and not generation.finished:
                generation.dirty = False
                end = generation.seq
                row: dict[str, Any] = {
                    "mid": generation.id,
                    "status": str(generation.status),
                    "updated_at": now,
                }
                if generation.saved_upto < 0:  # the last checkpoint may or may not have landed
                    row["content"] = generation.text_so_far()
                    row["reasoning"] = generation.reasoning_so_far()
                    rewrites.append(row)
                else:  # only what arrived since: a checkpoint costs the last second, not the answer
                    row["content"], row["reasoning"] = generation.pieces_since(
                        generation.saved_upto, end
                    )
                    appends.append(row)
                taken.append((generation, end))
        if not taken:
            return

        def save(s: DbSession) -> None:
            repo.checkpoint_messages(s, rewrites)
            repo.append_to_messages(s, appends)

        try:
            await self._db.write(save)
        except BaseException as exc:
            # Failed, or cancelled with the outcome unknown: an append retried could double the
            # text, so the next checkpoint of these answers rewrites their whole text.
            for generation, _ in taken:
                generation.saved_upto = -1
                generation.dirty = True
            if not isinstance(exc, ChatGateError):
                raise
            log.warning("checkpoint failed", error=exc.message, generations=len(taken))
            return
        for generation, end in taken:
            generation.saved_upto = end

    def forget_old(self) -> None:
        now = asyncio.get_running_loop().time()
        keep = self._settings.stream_retention_seconds
        recent = self._recent
        while recent:
            oldest = next(iter(recent.values()))
            if oldest.finished_at is not None and now - oldest.finished_at <= keep:
                break
            recent.popitem(last=False)
