"""Fair admission to the upstream credentials, within one process (`Admission`, declared in
chatgate.coordination.protocols; the Redis twin is chatgate.coordination.redis_scheduler).

Each credential has a concurrency limit (an access token or the local model: 1) and optionally a
requests-per-minute limit; several credentials of one provider form a pool. Requests that cannot
start at once wait, and the next one to start is the waiting request whose owner has the fewest
requests running or already granted — ties go to whoever was served least recently, then to the
oldest request. So ten requests from one person interleave with a single request from another
instead of starving it, and everyone waiting is told their position as it changes.

A credential answering 429 cools down for its Retry-After. One the upstream refuses (401, 402,
403, an exhausted quota) rests — first `credential_rest_seconds`, doubling with each refusal in a
row up to `credential_rest_max_seconds` — and is then tried again; one success heals it. While
every credential of a pool rests, requests fail at once with `UpstreamResting`, saying when the
next try is, instead of waiting in the queue. The least-loaded usable credential is chosen.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from chatgate.coordination.credential_health import (
    RestPolicy,
    carry_states,
    credential_row,
    provider_removed,
    resting_error,
)
from chatgate.coordination.protocols import Lease, PositionCallback
from chatgate.ids import utcnow
from chatgate.providers.base import Credential

_arrivals = itertools.count()


@dataclass(eq=False)
class _Waiter:
    user_id: str
    future: asyncio.Future[Credential]
    on_position: PositionCallback | None
    arrival: int = field(default_factory=lambda: next(_arrivals))
    position: int = 0


class LocalLease:
    __slots__ = ("_pool", "_released", "credential", "user_id")

    def __init__(self, pool: _Pool, credential: Credential, user_id: str) -> None:
        self._pool = pool
        self.credential = credential
        self.user_id = user_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self.credential, self.user_id)


class _Pool:
    def __init__(self, name: str, credentials: list[Credential]) -> None:
        self.name = name
        self.credentials = credentials
        self.waiting: list[_Waiter] = []
        self.running_by_user: dict[str, int] = {}
        self.last_served: dict[str, float] = {}
        self.started: dict[str, deque[float]] = {c.id: deque() for c in credentials}
        self._timer: asyncio.TimerHandle | None = None

    def replace_credentials(self, credentials: list[Credential]) -> None:
        """Swap the credentials in place: the queue stays, states carry over by credential id."""
        carry_states(self.credentials, credentials)
        self.started = {c.id: self.started.get(c.id) or deque() for c in credentials}
        self.credentials = credentials
        if self.waiting:
            self.dispatch()  # a new credential may admit someone now

    def fail_waiters(self, error: Exception) -> None:
        for waiter in self.waiting:
            if not waiter.future.done():
                waiter.future.set_exception(error)
        self.waiting = []
        if self._timer is not None:
            self._timer.cancel()

    # -- choosing ---------------------------------------------------------------------------
    def _usable(self, credential: Credential, now: float) -> bool:
        state = credential.state
        if state.in_flight >= credential.concurrency or state.cooldown_until > now:
            return False
        limit = credential.requests_per_minute
        if limit:
            recent = self.started.setdefault(credential.id, deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= limit:
                return False
        return True

    def resting_for(self, now: float) -> float | None:
        """Seconds until the first rest ends, when every credential rests; None otherwise."""
        states = [c.state for c in self.credentials]
        if not states or not all(s.resting and s.cooldown_until > now for s in states):
            return None
        return min(s.cooldown_until for s in states) - now

    def fail_waiters_if_resting(self, now: float) -> None:
        resting = self.resting_for(now)
        if resting is None:
            return
        for waiter in self.waiting:
            if not waiter.future.done():
                waiter.future.set_exception(resting_error(self.name, resting))
        self.waiting = []

    def _free_credential(self, now: float) -> Credential | None:
        usable = [c for c in self.credentials if self._usable(c, now)]
        if not usable:
            return None
        return min(usable, key=lambda c: (c.state.in_flight / c.concurrency, c.state.requests))

    def _order(self) -> list[_Waiter]:
        """Waiting requests in the order they would be admitted."""
        index_in_user: dict[str, int] = {}
        keyed = []
        for waiter in sorted(self.waiting, key=lambda w: w.arrival):
            nth = index_in_user.get(waiter.user_id, 0)
            index_in_user[waiter.user_id] = nth + 1
            running = self.running_by_user.get(waiter.user_id, 0)
            keyed.append(
                ((running + nth, self.last_served.get(waiter.user_id, 0.0), waiter.arrival), waiter)
            )
        keyed.sort(key=lambda item: item[0])
        return [waiter for _, waiter in keyed]

    # -- admitting --------------------------------------------------------------------------
    def grant(self, credential: Credential, user_id: str, now: float) -> None:
        credential.state.in_flight += 1
        credential.state.requests += 1
        self.started.setdefault(credential.id, deque()).append(now)
        self.running_by_user[user_id] = self.running_by_user.get(user_id, 0) + 1
        self.last_served[user_id] = now

    def dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.waiting = [w for w in self.waiting if not w.future.done()]
        for waiter in self._order():
            credential = self._free_credential(now)
            if credential is None:
                break
            self.waiting.remove(waiter)
            self.grant(credential, waiter.user_id, now)
            waiter.future.set_result(credential)
        self._report_positions()
        if self.waiting:
            self._wake_when_possible(loop, now)

    def _wake_when_possible(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """If the only obstacles are cool-downs or per-minute limits, try again when they lift."""
        moments = [c.state.cooldown_until for c in self.credentials if c.state.cooldown_until > now]
        for credential in self.credentials:
            recent = self.started.get(credential.id) or deque()
            if credential.requests_per_minute and len(recent) >= credential.requests_per_minute:
                moments.append(recent[0] + 60)
        if not moments:
            return
        when = min(moments) + 0.01
        if self._timer is not None and not self._timer.cancelled() and self._timer.when() <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self.dispatch)

    def _report_positions(self) -> None:
        for position, waiter in enumerate(self._order(), start=1):
            if waiter.position != position:
                waiter.position = position
                if waiter.on_position is not None:
                    waiter.on_position(position)

    def release(self, credential: Credential, user_id: str) -> None:
        credential.state.in_flight -= 1
        remaining = self.running_by_user.get(user_id, 1) - 1
        if remaining:
            self.running_by_user[user_id] = remaining
        else:
            self.running_by_user.pop(user_id, None)
        self.dispatch()


class Scheduler:
    """The in-process scheduler (one ChatGate process)."""

    def __init__(self, rests: RestPolicy | None = None) -> None:
        self._pools: dict[str, _Pool] = {}
        self._rests = rests or RestPolicy()

    async def start(self) -> None:
        """Nothing runs in the background in one process."""

    async def close(self) -> None:
        """Nothing to let go of."""

    def add_pool(self, name: str, credentials: list[Credential]) -> None:
        pool = self._pools.get(name)
        if pool is None:
            self._pools[name] = _Pool(name, credentials)
        else:
            pool.replace_credentials(credentials)

    def remove_pool(self, name: str) -> None:
        # Leases already granted keep their pool object and release into it.
        pool = self._pools.pop(name, None)
        if pool is not None:
            pool.fail_waiters(provider_removed(name))

    def _pool(self, name: str) -> _Pool:
        pool = self._pools.get(name)
        if pool is None:
            raise provider_removed(name)
        return pool

    async def acquire(
        self, pool_name: str, user_id: str, on_position: PositionCallback | None = None
    ) -> Lease:
        """Wait for a slot; cancelling the caller leaves the queue and frees the place."""
        pool = self._pool(pool_name)
        loop = asyncio.get_running_loop()
        now = loop.time()
        resting = pool.resting_for(now)
        if resting is not None:
            raise resting_error(pool_name, resting)
        if not pool.waiting:
            credential = pool._free_credential(now)
            if credential is not None:
                pool.grant(credential, user_id, now)
                return LocalLease(pool, credential, user_id)
        waiter = _Waiter(user_id, loop.create_future(), on_position)
        pool.waiting.append(waiter)
        pool.dispatch()
        try:
            credential = await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                pool.release(waiter.future.result(), user_id)
            else:
                waiter.future.cancel()
                pool.dispatch()
            raise
        return LocalLease(pool, credential, user_id)

    async def cool_down(self, credential: Credential, seconds: float, *, reason: str) -> None:
        state = credential.state
        state.cooldown_until = max(
            state.cooldown_until, asyncio.get_running_loop().time() + seconds
        )
        state.last_error, state.last_error_at = reason, utcnow()

    async def refused(self, credential: Credential, *, reason: str) -> float:
        state = credential.state
        state.rests += 1
        rest = self._rests.rest(state.rests)
        now = asyncio.get_running_loop().time()
        state.cooldown_until = max(state.cooldown_until, now + rest)
        state.resting = True
        state.last_error, state.last_error_at = reason, utcnow()
        pool = self._pools.get(credential.provider)
        if pool is not None:
            pool.fail_waiters_if_resting(now)
        return rest

    async def note_error(self, credential: Credential, reason: str) -> None:
        credential.state.last_error, credential.state.last_error_at = reason, utcnow()

    async def succeeded(self, credential: Credential) -> None:
        credential.state.resting = False
        credential.state.rests = 0

    async def try_now(self, pool_name: str, credential_name: str) -> bool:
        pool = self._pool(pool_name)
        for credential in pool.credentials:
            if credential.name == credential_name:
                waited = credential.state.cooldown_until > asyncio.get_running_loop().time()
                credential.state.cooldown_until = 0.0
                pool.dispatch()
                return waited
        return False

    async def queue_length(self, pool_name: str) -> int:
        return len([w for w in self._pool(pool_name).waiting if not w.future.done()])

    async def status(self, pool_name: str) -> list[dict[str, object]]:
        """Each credential's state for the admin console — never its secret."""
        pool = self._pool(pool_name)
        now = asyncio.get_running_loop().time()
        return [
            credential_row(c, cooling_seconds=c.state.cooldown_until - now)
            for c in pool.credentials
        ]
