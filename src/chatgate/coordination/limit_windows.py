"""How a limit such as "10/15 minutes" and a key become a named sliding window — the same for
the in-process and the Redis rate limits, so both count the same attempts under the same names."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from limits import parse


@dataclass(frozen=True, slots=True)
class Window:
    amount: int  # attempts allowed in the window
    seconds: int  # its length


@lru_cache(maxsize=256)
def window_of(limit: str) -> Window:
    item = parse(limit)
    return Window(int(item.amount), int(item.get_expiry()))


def window_name(prefix: str, window: Window, key: tuple[str, ...]) -> str:
    return ":".join((prefix, f"{window.amount}-{window.seconds}", *key))
