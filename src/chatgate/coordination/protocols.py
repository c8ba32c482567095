"""What several instances must share, as protocols, each with an in-process implementation and a
Redis one side by side in this package:

| protocol      | one process                | several instances (Redis)    |
|---------------|----------------------------|------------------------------|
| `Admission`   | `local_scheduler.Scheduler`| `redis_scheduler.RedisScheduler` |
| `LiveStreams` | `local_streams.LocalStreams` | `redis_streams.SharedGenerations` |
| `RateLimits`  | `local_limits.LocalRateLimits` | `redis_limits.RedisRateLimits` |

The services depend on these protocols only; `chatgate.services.coordination` picks the pair.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chatgate.providers.base import Credential

PositionCallback = Callable[[int], None]
# (generation id, first seq not yet final, kinds, payloads, finished) of running generations.
EventSource = Callable[[], Sequence[tuple[str, int, Sequence[str], Sequence[Any], bool]]]
StopHandler = Callable[[str], Awaitable[None] | None]


class Lease(Protocol):
    """A granted slot on a credential; `release()` may be called more than once."""

    credential: Credential

    def release(self) -> None: ...


class Admission(Protocol):
    """Fair admission to upstream credentials: `local_scheduler.Scheduler` in one process,
    `redis_scheduler.RedisScheduler` shared between instances."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def add_pool(self, name: str, credentials: list[Credential]) -> None:
        """Offer a pool; adding a pool again swaps its credentials and keeps its queue (a
        credential keeping its id keeps its state: in-flight count, rest, last error)."""
        ...

    def remove_pool(self, name: str) -> None:
        """The provider is gone: requests waiting for it fail; granted ones run to their end."""
        ...

    async def acquire(
        self, pool_name: str, user_id: str, on_position: PositionCallback | None = None
    ) -> Lease: ...

    async def cool_down(self, credential: Credential, seconds: float, *, reason: str) -> None:
        """A 429: skip this credential for `seconds`."""
        ...

    async def refused(self, credential: Credential, *, reason: str) -> float:
        """The upstream refused the credential: rest it; returns the rest in seconds."""
        ...

    async def note_error(self, credential: Credential, reason: str) -> None: ...

    async def succeeded(self, credential: Credential) -> None:
        """An answer came through: a resting credential is healed."""
        ...

    async def try_now(self, pool_name: str, credential_name: str) -> bool:
        """End a cool-down or rest at once (the admin's "try now"); False if there is none."""
        ...

    async def queue_length(self, pool_name: str) -> int: ...

    async def status(self, pool_name: str) -> list[dict[str, object]]: ...


class LiveStreams(Protocol):
    """Where a running generation's events are visible besides its own process, and how other
    processes stop it and take over when it dies."""

    @property
    def shared(self) -> bool:
        """Whether other instances read these streams (then orphans are looked for as we go)."""
        ...

    async def start(
        self,
        source: EventSource,
        on_stop: StopHandler,
        on_mirrored: Callable[[list[str]], None] | None = None,
    ) -> None: ...

    async def close(self) -> None: ...

    async def claim(self, generation_id: str) -> None:
        """This process now runs the generation."""
        ...

    async def flush(self) -> None:
        """Make everything produced so far visible to the others."""
        ...

    async def exists(self, generation_id: str) -> bool:
        """Whether another process's stream of this generation can be read here."""
        ...

    def events(
        self, generation_id: str, after: int, *, idle: float
    ) -> AsyncIterator[list[tuple[int, str, Any]]]:
        """Batches of (seq, kind, payload) after `after`; an empty batch when idle (time for a
        keep-alive); ends after `done`."""
        ...

    async def request_stop(self, generation_id: str) -> None: ...

    async def orphans(self, candidates: Sequence[str], local: set[str]) -> list[str]:
        """Of the generations the database says are running, those no live process holds."""
        ...

    async def append_final(
        self, generation_id: str, text: str, status: str, error: dict[str, Any]
    ) -> None:
        """Close the stream of an orphan, so its readers hear how it ended."""
        ...


@dataclass(frozen=True, slots=True)
class Receipt:
    """One counted attempt, to hand back with `give_back` when it should not count."""

    key: str
    attempt: str
    count: int = 1  # attempts in the window, this one included, when it was taken


class RateLimits(Protocol):
    """Sliding windows of attempts (sign-in, registration, CSP reports) per key.

    `take` counts an attempt and refuses it (`RateLimited`, with Retry-After) in one atomic step;
    its receipt says how many attempts the window holds with this one. An attempt that turns out
    fine (a correct password) can be handed back."""

    async def take(self, limit: str, *key: str, message: str | None = None) -> Receipt: ...

    async def give_back(self, receipt: Receipt) -> None: ...

    async def clear(self, limit: str, *key: str) -> None: ...
