"""Sliding-window counters for sign-in, registration and similar attempts.

In memory (the `limits` library) for one process; in Redis — sorted sets of attempt times,
trimmed on each check — when instances share state, so a limit counts every instance's requests.
"""

from __future__ import annotations

import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from chatgate.errors import RateLimited
from chatgate.ids import new_id


class RateLimits:
    def __init__(self, *, redis: Any = None, prefix: str = "chatgate") -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage()) if redis is None else None
        self._redis = redis
        self._prefix = f"{prefix}:rl"
        self._parsed: dict[str, RateLimitItem] = {}

    def _item(self, limit: str) -> RateLimitItem:
        item = self._parsed.get(limit)
        if item is None:
            item = self._parsed[limit] = parse(limit)
        return item

    def _key(self, item: RateLimitItem, key: tuple[str, ...]) -> str:
        return ":".join((self._prefix, f"{item.amount}-{item.get_expiry()}", *key))

    async def ensure_allowed(self, limit: str, *key: str, message: str | None = None) -> None:
        """Raise RateLimited (with Retry-After) if `key` has used up `limit`."""
        item = self._item(limit)
        if self._limiter is not None:
            if not await self._limiter.test(item, *key):
                stats = await self._limiter.get_window_stats(item, *key)
                raise RateLimited(message, retry_after=max(1.0, stats.reset_time - time.time()))
            return
        name, window, now = self._key(item, key), item.get_expiry(), time.time()
        await self._redis.zremrangebyscore(name, "-inf", now - window)
        if await self._redis.zcard(name) >= item.amount:
            oldest = await self._redis.zrange(name, 0, 0, withscores=True)
            frees_at = float(oldest[0][1]) + window if oldest else now + window
            raise RateLimited(message, retry_after=max(1.0, frees_at - now))

    async def record(self, limit: str, *key: str) -> None:
        item = self._item(limit)
        if self._limiter is not None:
            await self._limiter.hit(item, *key)
            return
        name = self._key(item, key)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(name, {new_id(): time.time()})
            pipe.expire(name, item.get_expiry() + 1)
            await pipe.execute()

    async def clear(self, limit: str, *key: str) -> None:
        item = self._item(limit)
        if self._limiter is not None:
            await self._limiter.clear(item, *key)
            return
        await self._redis.delete(self._key(item, key))
