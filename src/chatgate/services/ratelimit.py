"""Sliding-window counters for sign-in and registration attempts (the `limits` library).

In memory for one process; the same limiter runs on Redis when instances share state.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from chatgate.errors import RateLimited


class RateLimits:
    def __init__(self, storage: Storage | None = None) -> None:
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._parsed: dict[str, RateLimitItem] = {}

    def _item(self, limit: str) -> RateLimitItem:
        item = self._parsed.get(limit)
        if item is None:
            item = self._parsed[limit] = parse(limit)
        return item

    async def ensure_allowed(self, limit: str, *key: str, message: str | None = None) -> None:
        """Raise RateLimited (with Retry-After) if `key` has used up `limit`."""
        item = self._item(limit)
        if not await self._limiter.test(item, *key):
            stats = await self._limiter.get_window_stats(item, *key)
            raise RateLimited(message, retry_after=max(1.0, stats.reset_time - time.time()))

    async def record(self, limit: str, *key: str) -> None:
        await self._limiter.hit(self._item(limit), *key)

    async def clear(self, limit: str, *key: str) -> None:
        await self._limiter.clear(self._item(limit), *key)
