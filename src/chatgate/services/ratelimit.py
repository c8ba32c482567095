"""Sliding-window counters for sign-in, registration and similar attempts.

`take` counts an attempt and refuses it in one atomic step, so a burst of guesses sent at once
cannot all pass the check before any of them is counted; its receipt says how many attempts the
window holds with this one (sign-in uses that to slow repeated guesses down). An attempt that turns
out fine (a correct password) can be handed back. In memory for one process; in Redis — a sorted set of attempt times
per key, checked and added to by one Lua script — when instances share state, so a limit counts
every instance's attempts.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse

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
_SWEEP_ABOVE = 10_000  # windows kept in memory before the empty ones are swept


@dataclass(frozen=True, slots=True)
class Receipt:
    """One counted attempt, to hand back with `give_back` when it should not count."""

    key: str
    attempt: str
    count: int = 1  # attempts in the window, this one included, when it was taken


class RateLimits:
    def __init__(self, *, redis: Any = None, prefix: str = "chatgate") -> None:
        self._redis = redis
        self._take_script = redis.register_script(_TAKE) if redis is not None else None
        self._prefix = f"{prefix}:rl"
        self._parsed: dict[str, RateLimitItem] = {}
        self._windows: dict[str, deque[tuple[float, str]]] = {}
        self._lengths: dict[str, int] = {}

    def _item(self, limit: str) -> RateLimitItem:
        item = self._parsed.get(limit)
        if item is None:
            item = self._parsed[limit] = parse(limit)
        return item

    def _key(self, item: RateLimitItem, key: tuple[str, ...]) -> str:
        return ":".join((self._prefix, f"{item.amount}-{item.get_expiry()}", *key))

    async def take(self, limit: str, *key: str, message: str | None = None) -> Receipt:
        """Count one attempt for `key`, or raise RateLimited (with Retry-After) if `limit` is used
        up — in one step."""
        item = self._item(limit)
        name, window, now, attempt = self._key(item, key), item.get_expiry(), time.time(), new_id()
        if self._take_script is None:
            attempts = self._window(name, now, window)
            if len(attempts) >= item.amount:
                raise RateLimited(message, retry_after=max(1.0, attempts[0][0] + window - now))
            attempts.append((now, attempt))
            return Receipt(name, attempt, len(attempts))
        allowed, oldest, *count = await self._take_script(
            keys=[name], args=[repr(now), window, item.amount, attempt]
        )
        if not allowed:
            frees_at = float(oldest) + window
            raise RateLimited(message, retry_after=max(1.0, math.ceil(frees_at - now)))
        return Receipt(name, attempt, int(count[0]))

    async def give_back(self, receipt: Receipt) -> None:
        if self._redis is None:
            attempts = self._windows.get(receipt.key)
            if attempts is not None:
                for entry in attempts:
                    if entry[1] == receipt.attempt:
                        attempts.remove(entry)
                        break
            return
        await self._redis.zrem(receipt.key, receipt.attempt)

    async def clear(self, limit: str, *key: str) -> None:
        name = self._key(self._item(limit), key)
        if self._redis is None:
            self._windows.pop(name, None)
            self._lengths.pop(name, None)
            return
        await self._redis.delete(name)

    def _window(self, name: str, now: float, length: int) -> deque[tuple[float, str]]:
        if len(self._windows) > _SWEEP_ABOVE:
            self._sweep(now)
        attempts = self._windows.get(name)
        if attempts is None:
            attempts = self._windows[name] = deque()
            self._lengths[name] = length
        while attempts and attempts[0][0] <= now - length:
            attempts.popleft()
        return attempts

    def _sweep(self, now: float) -> None:
        """Forget the windows whose every attempt has expired (each by its own length)."""
        expired = [
            name
            for name, attempts in self._windows.items()
            if not attempts or attempts[-1][0] <= now - self._lengths[name]
        ]
        for name in expired:
            del self._windows[name], self._lengths[name]
