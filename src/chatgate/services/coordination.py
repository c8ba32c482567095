"""What instances must share — the scheduler, rate limits, live streams and stop signals — kept
in this process by default, or in Redis when `redis_url` is set (several instances)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from chatgate.config import Settings
from chatgate.coordination.credential_health import RestPolicy
from chatgate.coordination.local_limits import LocalRateLimits
from chatgate.coordination.local_scheduler import Scheduler
from chatgate.coordination.local_streams import LocalStreams
from chatgate.coordination.protocols import Admission, LiveStreams, RateLimits
from chatgate.db.engine import Database
from chatgate.services.instances import Instances

if TYPE_CHECKING:
    from chatgate.coordination.redis_link import RedisLink

log = structlog.get_logger(__name__)


@dataclass
class Coordination:
    scheduler: Admission
    limits: RateLimits
    instances: Instances
    streams: LiveStreams
    link: RedisLink | None = None  # several instances: the one Redis connection they share

    @classmethod
    async def start(cls, settings: Settings, db: Database) -> Coordination:
        rests = RestPolicy(settings.credential_rest_seconds, settings.credential_rest_max_seconds)
        if not settings.redis_url:
            coordination = cls(
                Scheduler(rests), LocalRateLimits(), Instances(db, shared=False), LocalStreams()
            )
        else:
            from chatgate.coordination.redis_limits import RedisRateLimits
            from chatgate.coordination.redis_link import RedisLink
            from chatgate.coordination.redis_scheduler import RedisScheduler
            from chatgate.coordination.redis_streams import SharedGenerations

            link = RedisLink(settings.redis_url, settings.redis_prefix)
            await link.start()
            coordination = cls(
                RedisScheduler(link, rests),
                RedisRateLimits(link.redis, prefix=link.prefix),
                Instances(db, shared=True, instance_id=link.instance_id),
                SharedGenerations(link, retention_seconds=settings.stream_retention_seconds),
                link,
            )
        try:
            await coordination.instances.start()
        except BaseException:
            if coordination.link is not None:
                await coordination.link.close()
            raise
        return coordination

    async def run(self) -> None:
        await self.scheduler.start()

    async def close(self) -> None:
        """Each step is bounded: a Redis call stuck until its socket timeout must not hold up
        the shutdown of the whole process (systemd, a test harness or an operator waits)."""
        await _bounded("scheduler", self.scheduler.close())
        await _bounded("live streams", self.streams.close())
        await _bounded("instance registry", self.instances.close())
        if self.link is not None:
            await _bounded("redis", self.link.close())


CLOSE_STEP_SECONDS = 5.0


async def _bounded(what: str, step: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(step, CLOSE_STEP_SECONDS)
    except TimeoutError:
        log.warning("closing took too long; going on without it", what=what)
