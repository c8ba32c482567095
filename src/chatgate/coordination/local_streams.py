"""`LiveStreams` for one process: every generation is in this process's memory, so there is
nothing to mirror and nobody else to take over; a stop request goes straight to the generation.
What a crash left running is found at the next start (everything running then is an orphan)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from chatgate.coordination.protocols import EventSource, StopHandler


class LocalStreams:
    shared = False

    def __init__(self) -> None:
        self._on_stop: StopHandler | None = None

    async def start(
        self,
        source: EventSource,
        on_stop: StopHandler,
        on_mirrored: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._on_stop = on_stop

    async def close(self) -> None:
        """Nothing to let go of."""

    async def claim(self, generation_id: str) -> None:
        """Only this process runs generations."""

    async def flush(self) -> None:
        """Everything is already where every reader is."""

    async def exists(self, generation_id: str) -> bool:
        return False  # no other process has streams to follow

    async def events(
        self, generation_id: str, after: int, *, idle: float
    ) -> AsyncIterator[list[tuple[int, str, Any]]]:
        raise LookupError("no other process runs generations")
        yield []  # pragma: no cover - makes this an async generator

    async def request_stop(self, generation_id: str) -> None:
        if self._on_stop is not None:
            result = self._on_stop(generation_id)
            if asyncio.iscoroutine(result):
                await result

    async def orphans(self, candidates: Sequence[str], local: set[str]) -> list[str]:
        return [generation_id for generation_id in candidates if generation_id not in local]

    async def append_final(
        self, generation_id: str, text: str, status: str, error: dict[str, Any]
    ) -> None:
        """No reader can be waiting elsewhere."""
