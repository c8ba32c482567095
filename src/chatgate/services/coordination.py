"""What instances must share — the scheduler, rate limits, live streams and stop signals — kept
in this process by default, or in Redis when `redis_url` is set (several instances)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.services.instances import Instances
from chatgate.services.ratelimit import RateLimits
from chatgate.services.scheduler import Admission, RestPolicy, Scheduler

log = structlog.get_logger(__name__)


@dataclass
class Coordination:
    scheduler: Admission
    limits: RateLimits
    instances: Instances
    link: Any = None  # RedisLink
    shared: Any = None  # SharedGenerations

    @classmethod
    async def start(cls, settings: Settings, db: Database) -> Coordination:
        rests = RestPolicy(settings.credential_rest_seconds, settings.credential_rest_max_seconds)
        if not settings.redis_url:
            coordination = cls(Scheduler(rests), RateLimits(), Instances(db, shared=False))
        else:
            from chatgate.coordination.redis_link import RedisLink
            from chatgate.coordination.redis_scheduler import RedisScheduler
            from chatgate.coordination.redis_streams import SharedGenerations

            link = RedisLink(settings.redis_url, settings.redis_prefix)
            await link.start()
            coordination = cls(
                RedisScheduler(link, rests),
                RateLimits(redis=link.redis, prefix=link.prefix),
                Instances(db, shared=True, instance_id=link.instance_id),
                link,
                SharedGenerations(link, retention_seconds=settings.stream_retention_seconds),
            )
        try:
            await coordination.instances.start()
        except BaseException:
            if coordination.link is not None:
                await coordination.link.close()
            raise
        return coordination

    async def run(self) -> None:
        start = getattr(self.scheduler, "start", None)
        if start is not None:
            await start()

    async def close(self) -> None:
        close = getattr(self.scheduler, "close", None)
        if close is not None:
            await close()
        if self.shared is not None:
            await self.shared.close()
        await self.instances.close()
        if self.link is not None:
            await self.link.close()
