"""Sliding-window counters in Redis, so a limit counts every instance's attempts: a sorted set of
attempt times per window, checked and added to by one Lua script (`RateLimits`, declared in
chatgate.coordination.protocols; the in-process twin is chatgate.coordination.local_limits)."""

from __future__ import annotations

import math
import time
from typing import Any

from chatgate.coordination.limit_windows import window_name, window_of
from chatgate.coordination.protocols import Receipt
from chatgate.errors import RateLimited
from chatgate.ids import new_id

# KEYS[1] the window; ARGV: now, window seconds, limit, attempt id.
_TAKE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, oldest[2] or tostring(now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return {1, '', redis.call('ZCARD', KEYS[1])}
"""


class RedisRateLimits:
    def __init__(self, redis: Any, *, prefix: str = "chatgate") -> None:
        self._redis = redis
        self._take_script = redis.register_script(_TAKE)
        self._prefix = f"{prefix}:rl"

    async def take(self, limit: str, *key: str, message: str | None = None) -> Receipt:
        window = window_of(limit)
        name, now, attempt = window_name(self._prefix, window, key), time.time(), new_id()
        allowed, oldest, *count = await self._take_script(
            keys=[name], args=[repr(now), window.seconds, window.amount, attempt]
        )
        if not allowed:
            frees_at = float(oldest) + window.seconds
            raise RateLimited(message, retry_after=max(1.0, math.ceil(frees_at - now)))
        return Receipt(name, attempt, int(count[0]))

    async def give_back(self, receipt: Receipt) -> None:
        await self._redis.zrem(receipt.key, receipt.attempt)

    async def clear(self, limit: str, *key: str) -> None:
        await self._redis.delete(window_name(self._prefix, window_of(limit), key))
