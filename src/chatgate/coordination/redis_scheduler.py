"""The fair scheduler shared by every instance, in Redis.

The same rules as the in-process scheduler (chatgate.coordination.local_scheduler): a credential runs at
most `concurrency` requests at once across all instances, and the next request admitted is the
waiting one whose owner has the fewest requests running (then least recently served, then
oldest). Decisions are made by one Lua script, atomically, whichever instance runs it; its result
(grants and queue positions) is published to every instance.

Slots are leases with an expiry the owner renews, so an instance that dies frees its slots
within `LEASE_TTL_MS`; requests queued by a dead instance leave the queue at the next dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import structlog

from chatgate.coordination.credential_health import (
    RestPolicy,
    carry_states,
    credential_row,
    provider_removed,
    resting_error,
)
from chatgate.coordination.protocols import PositionCallback
from chatgate.coordination.redis_link import RedisLink
from chatgate.ids import new_id, utcnow
from chatgate.providers.base import Credential

log = structlog.get_logger(__name__)


def _now_iso() -> str:
    return utcnow().isoformat()


LEASE_TTL_MS = 30_000
RENEW_SECONDS = 10.0
TICK_SECONDS = 1.0

DISPATCH = """
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local creds = cjson.decode(ARGV[3])
local ttl = tonumber(ARGV[4])
local instances = ARGV[5]
local running_key = prefix .. 'running'
for _, c in ipairs(creds) do
  local key = prefix .. 'leases:' .. c.name
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now)
  for _, member in ipairs(expired) do
    local user = string.match(member, '|(.*)$')
    if user and tonumber(redis.call('HINCRBY', running_key, user, -1)) <= 0 then
      redis.call('HDEL', running_key, user)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', now) end
  redis.call('ZREMRANGEBYSCORE', prefix .. 'rpm:' .. c.name, '-inf', now - 60000)
end
local waiting = redis.call('ZRANGE', prefix .. 'waiting', 0, -1, 'WITHSCORES')
local entries, nth = {}, {}
for i = 1, #waiting, 2 do
  local wid, arrival = waiting[i], tonumber(waiting[i + 1])
  local info = redis.call('HMGET', prefix .. 'w:' .. wid, 'user', 'inst')
  local user, inst = info[1], info[2]
  if (not user) or (not inst) or redis.call('EXISTS', instances .. inst) == 0 then
    redis.call('ZREM', prefix .. 'waiting', wid)
    redis.call('DEL', prefix .. 'w:' .. wid)
  else
    local k = nth[user] or 0
    nth[user] = k + 1
    local running = tonumber(redis.call('HGET', running_key, user) or '0')
    local served = tonumber(redis.call('HGET', prefix .. 'served', user) or '0')
    table.insert(entries, {wid = wid, user = user, a = running + k, b = served, c = arrival})
  end
end
table.sort(entries, function(x, y)
  if x.a ~= y.a then return x.a < y.a end
  if x.b ~= y.b then return x.b < y.b end
  return x.c < y.c
end)
local function free()
  local best, best_load = nil, nil
  for _, c in ipairs(creds) do
    local in_flight = redis.call('ZCARD', prefix .. 'leases:' .. c.name)
    local ok = in_flight < c.concurrency and redis.call('EXISTS', prefix .. 'cool:' .. c.name) == 0
    if ok and c.rpm and c.rpm > 0 then ok = redis.call('ZCARD', prefix .. 'rpm:' .. c.name) < c.rpm end
    if ok then
      local load = in_flight / c.concurrency
      if best == nil or load < best_load then best, best_load = c, load end
    end
  end
  return best
end
local grants, positions, position, blocked = {}, {}, 0, false
for _, e in ipairs(entries) do
  local c = nil
  if not blocked then c = free() end
  if c then
    redis.call('ZADD', prefix .. 'leases:' .. c.name, now + ttl, e.wid .. '|' .. e.user)
    redis.call('HINCRBY', running_key, e.user, 1)
    redis.call('HSET', prefix .. 'served', e.user, now)
    redis.call('ZADD', prefix .. 'rpm:' .. c.name, now, e.wid)
    redis.call('HINCRBY', prefix .. 'state:' .. c.name, 'requests', 1)
    redis.call('ZREM', prefix .. 'waiting', e.wid)
    redis.call('DEL', prefix .. 'w:' .. e.wid)
    table.insert(grants, {e.wid, c.name})
  else
    blocked = true
    position = position + 1
    table.insert(positions, {e.wid, position})
  end
end
return cjson.encode({grants = grants, positions = positions})
"""

RELEASE = """
local prefix, member, cred, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZREM', prefix .. 'leases:' .. cred, member) == 1 then
  if tonumber(redis.call('HINCRBY', prefix .. 'running', user, -1)) <= 0 then
    redis.call('HDEL', prefix .. 'running', user)
  end
end
return 1
"""


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[str]
    on_position: PositionCallback | None
    pool: str = ""
    position: int = 0


class RedisLease:
    __slots__ = ("_released", "_scheduler", "credential", "member", "pool", "user_id")

    def __init__(
        self,
        scheduler: RedisScheduler,
        pool: str,
        credential: Credential,
        member: str,
        user_id: str,
    ) -> None:
        self._scheduler = scheduler
        self.pool = pool
        self.credential = credential
        self.member = member
        self.user_id = user_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._scheduler._release(self)


class RedisScheduler:
    def __init__(self, link: RedisLink, rests: RestPolicy | None = None) -> None:
        self._link = link
        self._rests = rests or RestPolicy()
        self._pools: dict[str, list[Credential]] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._leases: set[RedisLease] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._dispatch_script: Any = link.redis.register_script(DISPATCH)
        self._release_script: Any = link.redis.register_script(RELEASE)
        self._tasks: list[asyncio.Task[None]] = []
        self._arrivals = itertools.count()

    def add_pool(self, name: str, credentials: list[Credential]) -> None:
        # The queue and the slots live in Redis by pool and credential name: re-adding a pool
        # keeps them; only this instance's credential objects change.
        carry_states(self._pools.get(name, []), credentials)
        self._pools[name] = credentials
        self._link.on(f"sched:{name}", self._on_decision)

    def remove_pool(self, name: str) -> None:
        if self._pools.pop(name, None) is None:
            return
        for wid, waiter in list(self._waiters.items()):
            if waiter.pool == name and not waiter.future.done():
                waiter.future.set_exception(provider_removed(name))
                del self._waiters[wid]
                self._soon(self._leave_queue(name, wid))

    def _prefix(self, pool: str) -> str:
        return self._link.key("p", pool) + ":"

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._tick(), name="scheduler-tick"),
            asyncio.create_task(self._renew(), name="scheduler-renew"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- deciding -----------------------------------------------------------------------------
    async def _dispatch(self, pool: str) -> None:
        if pool not in self._pools:
            return  # removed meanwhile: nobody on this instance waits for it any more
        credentials = [
            {"name": c.name, "concurrency": c.concurrency, "rpm": c.requests_per_minute or 0}
            for c in self._pools[pool]
        ]
        now = await self._now_ms()
        raw = await self._dispatch_script(
            keys=[],
            args=[
                self._prefix(pool),
                now,
                orjson.dumps(credentials),
                LEASE_TTL_MS,
                self._link.instance_key_prefix(),
            ],
        )
        self._apply(raw)
        await self._link.publish(f"sched:{pool}", raw)

    async def _now_ms(self) -> int:
        # Redis's clock, so every instance compares lease expiries against the same time.
        seconds, micros = await self._link.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def _apply(self, raw: bytes) -> None:
        decision = orjson.loads(raw)
        for wid, credential in decision.get("grants") or []:
            waiter = self._waiters.pop(wid, None)
            if waiter is not None and not waiter.future.done():
                waiter.future.set_result(credential)
        for wid, position in decision.get("positions") or []:
            waiter = self._waiters.get(wid)
            if waiter is not None and waiter.position != position:
                waiter.position = position
                if waiter.on_position is not None:
                    waiter.on_position(position)

    async def _on_decision(self, _channel: str, payload: bytes) -> None:
        self._apply(payload)

    def _soon(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the Admission interface ----------------------------------------------------------------
    async def acquire(
        self, pool_name: str, user_id: str, on_position: PositionCallback | None = None
    ) -> RedisLease:
        credentials = self._pools.get(pool_name)
        if credentials is None:
            raise provider_removed(pool_name)
        prefix = self._prefix(pool_name)
        await self._refuse_if_resting(pool_name, credentials)
        wid = new_id()
        waiter = _Waiter(asyncio.get_running_loop().create_future(), on_position, pool_name)
        self._waiters[wid] = waiter
        redis = self._link.redis
        arrival = await redis.incr(prefix + "arrivals")
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                prefix + "w:" + wid, mapping={"user": user_id, "inst": self._link.instance_id}
            )
            pipe.zadd(prefix + "waiting", {wid: arrival})
            await pipe.execute()
        try:
            await self._dispatch(pool_name)
            name = await waiter.future
        except asyncio.CancelledError:
            self._waiters.pop(wid, None)
            if waiter.future.done() and not waiter.future.cancelled():
                self._release_member(pool_name, waiter.future.result(), f"{wid}|{user_id}", user_id)
            else:
                self._soon(self._leave_queue(pool_name, wid))
            raise
        # The pool's credentials may have been swapped while this request waited.
        current = self._pools.get(pool_name, [])
        credential = next(c for c in [*current, *credentials] if c.name == name)
        credential.state.in_flight += 1
        credential.state.requests += 1
        lease = RedisLease(self, pool_name, credential, f"{wid}|{user_id}", user_id)
        self._leases.add(lease)
        return lease

    async def _leave_queue(self, pool: str, wid: str) -> None:
        prefix = self._prefix(pool)
        await self._link.redis.zrem(prefix + "waiting", wid)
        await self._link.redis.delete(prefix + "w:" + wid)
        await self._dispatch(pool)

    def _release(self, lease: RedisLease) -> None:
        self._leases.discard(lease)
        lease.credential.state.in_flight -= 1
        self._release_member(lease.pool, lease.credential.name, lease.member, lease.user_id)

    def _release_member(self, pool: str, credential: str, member: str, user_id: str) -> None:
        async def release() -> None:
            await self._release_script(
                keys=[], args=[self._prefix(pool), member, credential, user_id]
            )
            await self._dispatch(pool)

        self._soon(release())

    # -- credential health (shared: a refusal seen by one instance rests it for all) ---------------
    async def _refuse_if_resting(self, pool_name: str, credentials: list[Credential]) -> None:
        """Fail at once, saying when, while every credential of the pool rests."""
        if not credentials:
            return
        prefix = self._prefix(pool_name)
        async with self._link.redis.pipeline(transaction=False) as pipe:
            for credential in credentials:
                pipe.pttl(prefix + "rest:" + credential.name)
            remaining = await pipe.execute()
        if all(int(ms) > 0 for ms in remaining):
            raise resting_error(pool_name, min(int(ms) for ms in remaining) / 1000)

    async def cool_down(self, credential: Credential, seconds: float, *, reason: str) -> None:
        credential.state.last_error, credential.state.last_error_at = reason, utcnow()
        prefix = self._prefix(credential.provider)
        async with self._link.redis.pipeline(transaction=False) as pipe:
            pipe.set(prefix + "cool:" + credential.name, b"1", px=max(1, int(seconds * 1000)))
            pipe.hset(
                prefix + "state:" + credential.name,
                mapping={"last_error": reason[:500], "last_error_at": _now_iso()},
            )
            await pipe.execute()

    async def refused(self, credential: Credential, *, reason: str) -> float:
        prefix = self._prefix(credential.provider)
        state_key = prefix + "state:" + credential.name
        redis = self._link.redis
        rests = int(await redis.hincrby(state_key, "rests", 1))
        rest = self._rests.rest(rests)
        px = max(1, int(rest * 1000))
        state = credential.state
        state.rests, state.resting = rests, True
        state.last_error, state.last_error_at = reason, utcnow()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(prefix + "cool:" + credential.name, b"1", px=px)
            pipe.set(prefix + "rest:" + credential.name, b"1", px=px)
            pipe.hset(
                state_key,
                mapping={"last_error": reason[:500], "last_error_at": _now_iso(), "resting": 1},
            )
            await pipe.execute()
        return rest

    async def note_error(self, credential: Credential, reason: str) -> None:
        credential.state.last_error, credential.state.last_error_at = reason, utcnow()
        key = self._prefix(credential.provider) + "state:" + credential.name
        await self._link.redis.hset(
            key, mapping={"last_error": reason[:500], "last_error_at": _now_iso()}
        )

    async def succeeded(self, credential: Credential) -> None:
        # One write per answer would cost every answer a round trip: only when this instance
        # saw the credential resting, or the periodic status read told it so.
        if credential.state.resting or credential.state.rests:
            credential.state.resting, credential.state.rests = False, 0
            key = self._prefix(credential.provider) + "state:" + credential.name
            await self._link.redis.hset(key, mapping={"resting": 0, "rests": 0})

    async def try_now(self, pool_name: str, credential_name: str) -> bool:
        if all(c.name != credential_name for c in self._pools.get(pool_name, [])):
            return False
        prefix = self._prefix(pool_name)
        removed = await self._link.redis.delete(
            prefix + "cool:" + credential_name, prefix + "rest:" + credential_name
        )
        await self._dispatch(pool_name)
        return bool(removed)

    async def queue_length(self, pool_name: str) -> int:
        return int(await self._link.redis.zcard(self._prefix(pool_name) + "waiting"))

    async def status(self, pool_name: str) -> list[dict[str, object]]:
        redis, prefix, now = self._link.redis, self._prefix(pool_name), await self._now_ms()
        rows: list[dict[str, object]] = []
        for credential in self._pools.get(pool_name, []):
            in_flight = await redis.zcount(prefix + "leases:" + credential.name, now, "+inf")
            cool_ms = await redis.pttl(prefix + "cool:" + credential.name)
            shared = await redis.hgetall(prefix + "state:" + credential.name)
            # What any instance learnt, over this instance's own view.
            state = credential.state
            state.rests = int(shared.get(b"rests", 0))
            state.resting = shared.get(b"resting") == b"1" and state.rests > 0
            state.last_error = (shared.get(b"last_error") or b"").decode() or None
            at = (shared.get(b"last_error_at") or b"").decode()
            state.last_error_at = datetime.fromisoformat(at) if at else None
            row = credential_row(credential, cooling_seconds=max(0, cool_ms) / 1000)
            row.update(in_flight=int(in_flight), requests=int(shared.get(b"requests", 0)))
            rows.append(row)
        return rows

    # -- housekeeping -------------------------------------------------------------------------
    async def _tick(self) -> None:
        """Cool-downs end, per-minute windows slide, dead instances' slots expire: re-decide."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for pool in list(self._pools):
                try:
                    if await self._link.redis.zcard(self._prefix(pool) + "waiting"):
                        await self._dispatch(pool)
                except Exception as exc:  # noqa: BLE001 - the next tick tries again
                    log.warning("scheduler tick failed", pool=pool, error=str(exc))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            if not self._leases:
                continue
            try:
                now = await self._now_ms()
                async with self._link.redis.pipeline(transaction=False) as pipe:
                    for lease in list(self._leases):
                        key = self._prefix(lease.pool) + "leases:" + lease.credential.name
                        pipe.zadd(key, {lease.member: now + LEASE_TTL_MS}, xx=True)
                    await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - retried at the next renewal
                log.warning("lease renewal failed", error=str(exc))
