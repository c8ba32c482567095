"""Generations shared between instances: every event goes to a Redis Stream (bounded, expiring)
so a client can re-attach through any instance; stop signals reach the instance that runs the
generation; each running generation holds a lease its instance renews, and when an instance
dies another marks its answers `interrupted` (partial text kept) within `OWNER_TTL_MS`.

Event ids in the stream are `<seq>-0`, the same sequence numbers clients see as SSE ids, so
`Last-Event-ID: n` becomes `XREAD` after `n-0`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
import structlog

from chatgate.coordination.protocols import EventSource, StopHandler
from chatgate.coordination.redis_link import BLOCK_SECONDS, RedisLink

log = structlog.get_logger(__name__)
STREAM_MAXLEN = 20_000
OWNER_TTL_MS = 20_000
RENEW_OWNERS_SECONDS = 5.0
FLUSH_SECONDS = 0.02
# Events whose payload is a bare text piece (the answer's deltas, reasoning): stored raw.
TEXT_EVENTS = frozenset({"delta", "reasoning"})


class SharedGenerations:
    """`LiveStreams` through Redis: every instance can read, stop and take over a generation."""

    shared = True

    def __init__(self, link: RedisLink, *, retention_seconds: float) -> None:
        self._link = link
        self._retention_ms = max(60_000, int(retention_seconds * 1000))
        self._mirrored: dict[str, int] = {}
        self._renewed_at = 0.0
        self._source: EventSource | None = None
        self._on_stop: StopHandler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._on_mirrored: Callable[[list[str]], None] | None = None
        # One flush at a time: two pipelines on two connections could reach Redis out of order,
        # and a stream's ids must only grow.
        self._flushing = asyncio.Lock()

    def stream_key(self, generation_id: str) -> str:
        return self._link.key("gen", generation_id, "events")

    def owner_key(self, generation_id: str) -> str:
        return self._link.key("gen", generation_id, "owner")

    async def start(
        self,
        source: EventSource,
        on_stop: StopHandler,
        on_mirrored: Callable[[list[str]], None] | None = None,
    ) -> None:
        """`source()` lists (generation id, first seq not yet final, kinds, payloads, finished);
        `on_mirrored(ids)` hears which finished generations are now wholly in Redis."""
        self._source = source
        self._on_stop = on_stop
        self._on_mirrored = on_mirrored
        self._link.on("stop", self._stop_message)
        self._tasks = [asyncio.create_task(self._flush_loop(), name="redis-event-mirror")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.flush()

    # -- producing ----------------------------------------------------------------------------
    async def claim(self, generation_id: str) -> None:
        await self._link.redis.set(
            self.owner_key(generation_id), self._link.instance_id.encode(), px=OWNER_TTL_MS
        )

    async def flush(self) -> None:
        """Send every event not yet in Redis (one pipeline for all generations) and renew leases."""
        if self._source is None:
            return
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        assert self._source is not None
        items = self._source()
        if not items:
            return
        now = asyncio.get_running_loop().time()
        renew = now - self._renewed_at > RENEW_OWNERS_SECONDS
        finished_ids: list[str] = []
        sent: dict[str, int] = {}
        async with self._link.redis.pipeline(transaction=False) as pipe:
            for generation_id, _, kinds, payloads, finished in items:
                start = self._mirrored.get(generation_id, 0)
                end = len(kinds)
                key = self.stream_key(generation_id)
                for index, kind, payload in zip(
                    range(start, end), kinds[start:end], payloads[start:end], strict=True
                ):
                    data = payload.encode() if kind in TEXT_EVENTS else orjson.dumps(payload)
                    pipe.xadd(
                        key,
                        {b"k": kind.encode(), b"d": data},
                        id=f"{index + 1}-0",
                        maxlen=STREAM_MAXLEN,
                    )
                sent[generation_id] = end
                if finished:
                    pipe.pexpire(key, self._retention_ms)
                    pipe.delete(self.owner_key(generation_id))
                    finished_ids.append(generation_id)
                elif renew or start == 0:
                    pipe.set(
                        self.owner_key(generation_id),
                        self._link.instance_id.encode(),
                        px=OWNER_TTL_MS,
                    )
            # On failure nothing is marked sent: the next round sends the same events again, and
            # those that had arrived are refused as already there.
            for result in await pipe.execute(raise_on_error=False):
                if isinstance(result, Exception) and "equal or smaller" not in str(result):
                    raise result
        if renew:
            self._renewed_at = now
        self._mirrored.update(sent)
        for generation_id in finished_ids:
            self._mirrored.pop(generation_id, None)
        if finished_ids and self._on_mirrored is not None:
            self._on_mirrored(finished_ids)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - retried on the next round
                log.warning("mirroring events to redis failed", error=str(exc))

    # -- reading on another instance --------------------------------------------------------------
    async def exists(self, generation_id: str) -> bool:
        # Its events, or its owner's lease: the owner claims a generation before its first
        # event is mirrored (every 20 ms), and a reader arriving in between must wait for the
        # stream, not take the stored row ("queued", no text yet) for the end of the answer.
        # If the owner dies first, the reaper closes the stream and the reader still ends.
        redis = self._link.redis
        return bool(
            await redis.exists(self.stream_key(generation_id), self.owner_key(generation_id))
        )

    async def running_elsewhere(self, generation_id: str) -> bool:
        owner = await self._link.redis.get(self.owner_key(generation_id))
        return owner is not None and owner.decode() != self._link.instance_id

    async def events(
        self, generation_id: str, after: int, *, idle: float
    ) -> AsyncIterator[list[tuple[int, str, Any]]]:
        """Batches of (seq, kind, payload) after `after`; an empty batch after `idle` seconds of
        silence (time for a keep-alive); ends after the `done` event."""
        key = self.stream_key(generation_id)
        cursor = f"{after}-0"
        block_ms = int(min(idle, BLOCK_SECONDS) * 1000)  # always shorter than the socket timeout
        while True:
            reply = await self._link.redis.xread({key: cursor}, block=block_ms, count=500)
            batch: list[tuple[int, str, Any]] = []
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    cursor = entry_id.decode()
                    kind = fields[b"k"].decode()
                    raw = fields[b"d"]
                    batch.append(
                        (
                            int(cursor.split("-")[0]),
                            kind,
                            raw.decode() if kind in TEXT_EVENTS else orjson.loads(raw),
                        )
                    )
            yield batch
            if any(kind == "done" for _, kind, _ in batch):
                return

    # -- stopping -------------------------------------------------------------------------------
    async def request_stop(self, generation_id: str) -> None:
        await self._link.publish("stop", generation_id.encode())

    async def _stop_message(self, _channel: str, payload: bytes) -> None:
        if self._on_stop is not None:
            result = self._on_stop(payload.decode())
            if asyncio.iscoroutine(result):
                await result

    # -- orphans ------------------------------------------------------------------------------------
    async def orphans(self, candidates: Sequence[str], local: set[str]) -> list[str]:
        """Of the generations the database says are running, those no live instance holds."""
        found = []
        for generation_id in candidates:
            if generation_id in local:
                continue
            if await self._link.redis.exists(self.owner_key(generation_id)):
                continue
            # Only one instance cleans up each orphan.
            claim = self._link.key("gen", generation_id, "reaped")
            if await self._link.redis.set(claim, b"1", nx=True, px=60_000):
                found.append(generation_id)
        return found

    async def append_final(
        self, generation_id: str, text: str, status: str, error: dict[str, Any]
    ) -> None:
        """Close the stream of a generation whose instance died, so waiting readers finish."""
        key = self.stream_key(generation_id)
        redis = self._link.redis
        last = await redis.xrevrange(key, count=1)
        seq = int(last[0][0].decode().split("-")[0]) if last else 0
        async with redis.pipeline(transaction=False) as pipe:
            if not last:
                pipe.xadd(
                    key, {b"k": b"reset", b"d": orjson.dumps({"text": text})}, id=f"{seq + 1}-0"
                )
                seq += 1
            pipe.xadd(key, {b"k": b"error", b"d": orjson.dumps(error)}, id=f"{seq + 1}-0")
            pipe.xadd(
                key, {b"k": b"done", b"d": orjson.dumps({"status": status})}, id=f"{seq + 2}-0"
            )
            pipe.pexpire(key, self._retention_ms)
            await pipe.execute()
