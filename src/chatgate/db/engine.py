"""Engines, sessions, and the one way to write.

Reads use short read-only transactions from a pool. Writes go through `Database.write(fn)`:

- on SQLite, one writer task owns the single write connection and commits every waiting write
  together (group commit; datasette funnels writes through one thread for the same reason). Each
  write runs inside its own SAVEPOINT, so one failing write does not undo its neighbours, and
  transactions start with `BEGIN IMMEDIATE`, so "database is locked" cannot happen half-way
  through a transaction; other processes (the CLI) wait up to the busy timeout;
- on PostgreSQL each write is its own transaction on the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from chatgate.errors import StorageFull, StorageUnavailable

T = TypeVar("T")
WriteFn = Callable[[AsyncSession], Awaitable[T]]
log = structlog.get_logger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
GROUP_COMMIT_MAX = 200


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (for Alembic and the CLI backup)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.drivername.startswith("postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so we choose IMMEDIATE and SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit acknowledged to a user survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def _translate(exc: BaseException) -> BaseException:
    text = str(exc).lower()
    if "disk is full" in text or "no space left" in text or "disk full" in text:
        return StorageFull()
    if isinstance(exc, OperationalError | DBAPIError) and (
        "locked" in text or "unable to open" in text
    ):
        return StorageUnavailable()
    return exc


class _WriteRequest:
    __slots__ = ("fn", "future")

    def __init__(self, fn: WriteFn[Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.url = url
        self.is_sqlite = make_url(url).drivername.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._read_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=max_overflow
            )
            self._write_engine = create_async_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=600
            )
            _sqlite_pragmas(self._read_engine, immediate=False)
            _sqlite_pragmas(self._write_engine, immediate=True)
        else:
            self._read_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )
            self._write_engine = self._read_engine
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._queue: asyncio.Queue[_WriteRequest] | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> str:
        return self._read_engine.dialect.name

    async def start(self) -> None:
        if self.is_sqlite and self._writer is None:
            self._queue = asyncio.Queue()
            self._writer = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        await self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            await self._write_engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._read_sessions() as session:
                yield session
        except (OperationalError, DBAPIError) as exc:
            raise _translate(exc) from exc

    async def write(self, fn: WriteFn[T]) -> T:
        """Run `fn(session)` in a write transaction; returns once it is committed."""
        if self._queue is None:
            if self.is_sqlite:
                raise RuntimeError("Database.start() was not called")
            try:
                async with self._write_sessions.begin() as session:
                    return await fn(session)
            except (OperationalError, DBAPIError) as exc:
                raise _translate(exc) from exc
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_WriteRequest(fn, future))
        return await future

    async def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < GROUP_COMMIT_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_WriteRequest]) -> None:
        results: list[tuple[_WriteRequest, Any, BaseException | None]] = []
        try:
            async with self._write_sessions() as session, session.begin():
                for request in batch:
                    if request.future.cancelled():
                        continue
                    try:
                        async with session.begin_nested():
                            value = await request.fn(session)
                        results.append((request, value, None))
                    except Exception as exc:  # noqa: BLE001 - delivered to the caller below
                        results.append((request, None, _translate(exc)))
        except Exception as exc:  # noqa: BLE001 - the commit failed: every write in the batch failed
            error = _translate(exc)
            log.error("database commit failed", error=str(exc), writes=len(batch))
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        for request, value, failure in results:
            if request.future.done():
                continue
            if failure is None:
                request.future.set_result(value)
            else:
                request.future.set_exception(failure)

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.read() as session:
            await session.execute(text("SELECT 1"))
