"""Which ChatGate processes use this database. Several instances need Redis to share queues,
streams and limits; a second one without it is refused at startup instead of misbehaving."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import InstanceRecord
from chatgate.db.repos import instances as repo
from chatgate.ids import new_id, utcnow

log = structlog.get_logger(__name__)
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=20)


class AnotherInstanceRunning(RuntimeError):
    pass


class Instances:
    def __init__(self, db: Database, *, shared: bool, instance_id: str | None = None) -> None:
        self._db = db
        self.shared = shared
        self.id = instance_id or f"{socket.gethostname()}-{os.getpid()}-{new_id()[-8:]}"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        now = utcnow()
        record = InstanceRecord(
            id=self.id, host=socket.gethostname()[:255], pid=os.getpid(), shared=self.shared
        )

        def register(s: DbSession) -> list[InstanceRecord]:
            others = []
            for other in repo.other_instances(s, self.id, now - STALE_AFTER):
                if other.host == record.host and not _pid_alive(other.pid):
                    repo.delete_instance(s, other.id)  # crashed here before this start
                else:
                    others.append(other)
            if self.shared or not others:
                repo.upsert_instance(s, record)
            return others

        others = await self._db.write(register)
        if not self.shared and others:
            other = others[0]
            raise AnotherInstanceRunning(
                f"Another ChatGate instance (pid {other.pid} on {other.host}) is using this database. "
                "Several instances (or --workers) need a shared Redis: set CHATGATE_REDIS_URL on all "
                "of them (docs/scaling.md), or stop the other one."
            )
        self._task = asyncio.create_task(self._heartbeat(), name="instance-heartbeat")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            beat = InstanceRecord(id=self.id, host="", pid=0, last_seen=utcnow())

            def save(s: DbSession, record: InstanceRecord = beat) -> None:
                repo.upsert_instance(s, record)

            try:
                await self._db.write(save)
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log.warning("instance heartbeat failed", error=str(exc))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._db.write(lambda s: repo.delete_instance(s, self.id))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
