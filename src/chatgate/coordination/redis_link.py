"""One Redis connection per instance, the instance's liveness key, and the pub/sub listener that
every shared mechanism (the scheduler, stop signals) receives its messages through.

Keys live under `<prefix>:` so several deployments (or test runs) can share one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from chatgate.ids import new_id

log = structlog.get_logger(__name__)

Handler = Callable[[str, bytes], Awaitable[None] | None]
LIVENESS_TTL_MS = 15_000
HEARTBEAT_SECONDS = 5.0
MAX_CONNECTIONS = 256
POOL_WAIT_SECONDS = 20.0
# Longer than any blocking read (redis_streams blocks at most BLOCK_SECONDS): redis-py's default
# of 5 s cut readers that waited through a queue or a slow first token.
SOCKET_TIMEOUT_SECONDS = 30.0
BLOCK_SECONDS = 10.0


class RedisLink:
    def __init__(self, url: str, prefix: str) -> None:
        try:
            import redis.asyncio as redis
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "CHATGATE_REDIS_URL needs the redis extra: pip install 'chatgate[redis]'"
            ) from exc
        # A burst of requests (a class starting at once) waits for a free connection instead of
        # failing: redis-py's default pool raises once 100 are in use.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=5.0,
            socket_keepalive=True,
            decode_responses=False,
            health_check_interval=30,
        )
        self.redis: Any = redis.Redis.from_pool(pool)  # closes the pool with the client
        self.prefix = prefix.rstrip(":")
        self.instance_id = f"{socket.gethostname()}-{os.getpid()}-{new_id()[-8:]}"
        self._handlers: dict[str, Handler] = {}
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def liveness_key(self) -> str:
        return self.key("instance", self.instance_id)

    def instance_key_prefix(self) -> str:
        return self.key("instance", "")

    async def start(self) -> None:
        await self.redis.ping()
        await self._beat()
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(self.key("ch", "*"))
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="redis-heartbeat"),
            asyncio.create_task(self._listen(), name="redis-listener"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.redis.delete(self.liveness_key)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self.redis.aclose()

    def channel(self, name: str) -> str:
        return self.key("ch", name)

    def on(self, name: str, handler: Handler) -> None:
        """Receive messages published on channel `name` (by any instance, this one included)."""
        self._handlers[self.channel(name)] = handler

    async def publish(self, name: str, payload: bytes) -> None:
        await self.redis.publish(self.channel(name), payload)

    async def alive(self, instance_id: str) -> bool:
        return bool(await self.redis.exists(self.key("instance", instance_id)))

    async def _beat(self) -> None:
        await self.redis.set(self.liveness_key, b"1", px=LIVENESS_TTL_MS)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._beat()
            except Exception as exc:  # noqa: BLE001 - Redis blips must not kill the instance
                log.warning("redis heartbeat failed", error=str(exc))

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()
                    handler = self._handlers.get(channel)
                    if handler is None:
                        continue
                    result = handler(channel, message["data"])
                    if asyncio.iscoroutine(result):
                        await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect and keep listening
                log.warning("redis listener restarting", error=str(exc))
                await asyncio.sleep(1)
