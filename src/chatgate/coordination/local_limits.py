"""Sliding-window counters for sign-in, registration and similar attempts, in this process's
memory (`RateLimits`, declared in chatgate.coordination.protocols; the Redis twin, which counts
every instance's attempts, is chatgate.coordination.redis_limits).

`take` counts an attempt and refuses it in one step, so a burst of guesses sent at once cannot
all pass the check before any of them is counted (nothing awaits in between).
"""

from __future__ import annotations

import time
from collections import deque

from chatgate.coordination.limit_windows import window_name, window_of
from chatgate.coordination.protocols import Receipt
from chatgate.errors import RateLimited
from chatgate.ids import new_id

_SWEEP_ABOVE = 10_000  # windows kept in memory before the empty ones are swept


class LocalRateLimits:
    def __init__(self, *, prefix: str = "chatgate") -> None:
        self._prefix = f"{prefix}:rl"
        self._windows: dict[str, deque[tuple[float, str]]] = {}
        self._lengths: dict[str, int] = {}

    async def take(self, limit: str, *key: str, message: str | None = None) -> Receipt:
        window = window_of(limit)
        name, now, attempt = window_name(self._prefix, window, key), time.time(), new_id()
        attempts = self._window(name, now, window.seconds)
        if len(attempts) >= window.amount:
            raise RateLimited(message, retry_after=max(1.0, attempts[0][0] + window.seconds - now))
        attempts.append((now, attempt))
        return Receipt(name, attempt, len(attempts))

    async def give_back(self, receipt: Receipt) -> None:
        attempts = self._windows.get(receipt.key)
        if attempts is not None:
            for entry in attempts:
                if entry[1] == receipt.attempt:
                    attempts.remove(entry)
                    break

    async def clear(self, limit: str, *key: str) -> None:
        name = window_name(self._prefix, window_of(limit), key)
        self._windows.pop(name, None)
        self._lengths.pop(name, None)

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
