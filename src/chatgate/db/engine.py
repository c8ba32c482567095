"""Engines, threads, and the one way to read and to write.

Database work runs in threads with plain (synchronous) SQLAlchemy sessions, one thread hop per
logical operation rather than one per statement:

- `await db.read(fn)` runs `fn(session)` in a small pool of reader threads, in one transaction;
- `await db.write(fn)` runs `fn(session)` in a write transaction and returns once it is committed;
  `db.write_in_stages(fn)` also says when `fn` has run, before its commit has landed.
  On SQLite one writer thread owns the write connection and commits every waiting write together
  (group commit; datasette funnels writes through one thread for the same reason). Each write has
  its own SAVEPOINT, so one failing write does not undo its neighbours, and transactions start
  with `BEGIN IMMEDIATE`, so "database is locked" cannot happen half-way through one; other
  processes (the CLI) wait up to the busy timeout. On PostgreSQL each write is its own
  transaction on the pool.

`fn` is synchronous and must not touch the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from chatgate.errors import StorageFull, StorageUnavailable

T = TypeVar("T")
ReadFn = Callable[[Session], T]
WriteFn = Callable[[Session], T]
log = structlog.get_logger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Page cache per connection, in KiB (SQLite's default is 2,000 on every connection). A reader's
# cache is emptied whenever a read transaction starts after any commit (WAL), which under load is
# nearly every read, so beyond one query's pages it only holds memory. The writer's cache is never
# emptied by its own commits: it keeps the B-tree pages that every checkpoint and insert walks.
READER_CACHE_KIB = 256
WRITER_CACHE_KIB = 1024
GROUP_COMMIT_MAX = 500
READER_THREADS = 4


def sync_url(url: str) -> str:
    """The same database through the synchronous drivers ChatGate uses (storage runs in threads).
    URLs written for the async drivers of earlier versions (`sqlite+aiosqlite://`,
    `postgresql+asyncpg://`) keep working."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.drivername.startswith("postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def private_dir(path: Path) -> None:
    """Create a directory only its owner can enter (0700); an existing one is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def prepare_sqlite_file(url: str) -> None:
    """Before SQLite opens a database file: create its directory 0700 and the file 0600 (SQLite
    gives the -wal and -shm files the database file's mode), since it holds password hashes and
    conversations. An existing file keeps its mode; a warning says if others can read it."""
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return  # a URI filename: the operator chose how it is opened
    path = Path(database)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning(
                "the database file can be read by other users; chmod 600 it",
                path=str(path),
                mode=oct(mode),
            )


def _sqlite_pragmas(engine: Engine, *, immediate: bool, cache_kib: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so we choose IMMEDIATE and SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit acknowledged to a user survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def _translate(exc: BaseException) -> BaseException:
    message = str(exc).lower()
    if "disk is full" in message or "no space left" in message or "disk full" in message:
        return StorageFull()
    if isinstance(exc, OperationalError | DBAPIError) and (
        "locked" in message or "unable to open" in message
    ):
        return StorageUnavailable()
    return exc


class _WriteRequest:
    __slots__ = ("fn", "future", "ran")

    def __init__(
        self,
        fn: WriteFn[Any],
        future: asyncio.Future[Any],
        ran: asyncio.Future[Any] | None = None,
    ) -> None:
        self.fn = fn
        self.future = future
        self.ran = ran


def _has_run(ran: asyncio.Future[Any] | None, value: Any) -> None:
    """In the writer thread: the write's statements ran (its savepoint was released)."""
    if ran is not None:
        ran.get_loop().call_soon_threadsafe(_ran_with, ran, value)


def _ran_with(ran: asyncio.Future[Any], value: Any) -> None:
    if not ran.done():
        ran.set_result(value)


def _tell_ran_of(ran: asyncio.Future[Any], committed: asyncio.Future[Any]) -> None:
    """Once the write is over: a write that never ran (it failed, or was given up) fails `ran`
    too. A commit that failed after the statements ran leaves `ran` as it was."""
    if ran.done():
        return
    if committed.cancelled():
        ran.cancel()
    elif (error := committed.exception()) is not None:
        ran.set_exception(error)
    else:
        ran.set_result(committed.result())


class WriteStages:
    """A write's two moments: `ran` once its statements have run in the transaction (their
    result, not yet on disk: the commit can still fail), `committed` once it is committed."""

    __slots__ = ("committed", "ran")

    def __init__(self, ran: asyncio.Future[Any], committed: asyncio.Future[Any]) -> None:
        self.ran = ran
        self.committed = committed


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.drivername.startswith("sqlite")
        if self.is_sqlite:
            prepare_sqlite_file(url)
            # One connection per reader thread and one for the writer: no pool churn.
            self._read_engine = create_engine(
                sync_url(url),
                pool_size=READER_THREADS,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            self._write_engine = create_engine(
                sync_url(url),
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            _sqlite_pragmas(self._read_engine, immediate=False, cache_kib=READER_CACHE_KIB)
            _sqlite_pragmas(self._write_engine, immediate=True, cache_kib=WRITER_CACHE_KIB)
            readers = READER_THREADS
        else:
            self._read_engine = create_engine(
                sync_url(url), pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )
            self._write_engine = self._read_engine
            readers = pool_size + max_overflow
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="db-read")
        self._writer = ThreadPoolExecutor(
            max_workers=1 if self.is_sqlite else readers, thread_name_prefix="db-write"
        )
        self._queue: asyncio.Queue[_WriteRequest] | None = None
        self._write_task: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> str:
        return self._read_engine.dialect.name

    async def start(self) -> None:
        if self.is_sqlite and self._write_task is None:
            self._queue = asyncio.Queue()
            self._write_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def close(self) -> None:
        if self._write_task is not None:
            self._write_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._write_task
            self._write_task = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._dispose)

    def _dispose(self) -> None:
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            self._write_engine.dispose()

    # -- reading ------------------------------------------------------------------------------
    def _read_in_thread(self, fn: ReadFn[T]) -> T:
        try:
            with Session(self._read_engine, expire_on_commit=False) as session, session.begin():
                return fn(session)
        except (OperationalError, DBAPIError) as exc:
            raise _translate(exc) from exc

    async def read(self, fn: ReadFn[T]) -> T:
        """Run `fn(session)` in a read transaction on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, self._read_in_thread, fn
        )

    # -- rehearsing ----------------------------------------------------------------------------
    def _rolled_back(self, fn: WriteFn[T]) -> T:
        with Session(self._write_engine, expire_on_commit=False) as session:
            session.begin()
            try:
                return fn(session)
            finally:
                session.rollback()

    async def rehearse(self, write: WriteFn[Any], read: ReadFn[Any]) -> None:
        """Run `write` in a write transaction that always rolls back, then `read` once per reader
        connection: statements compiled and connections opened before the first request needs
        them. Nothing is committed."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._rolled_back, write)
        readers = READER_THREADS if self.is_sqlite else 1
        await asyncio.gather(*(self.read(read) for _ in range(readers)))

    # -- writing ------------------------------------------------------------------------------
    def _write_one(self, fn: WriteFn[T], ran: asyncio.Future[Any] | None = None) -> T:
        try:
            with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                value = fn(session)
                _has_run(ran, value)
                return value
        except (OperationalError, DBAPIError) as exc:
            raise _translate(exc) from exc

    async def write(self, fn: WriteFn[T]) -> T:
        """Run `fn(session)` in a write transaction; returns once it is committed."""
        return await self._submit(fn)

    def write_in_stages(self, fn: WriteFn[T]) -> WriteStages:
        """`write(fn)`, also telling when `fn` has run: for work that may begin while the commit
        is on its way to disk and must not be shown before it has landed (a question's upstream
        request). If `fn` fails, both stages fail with its error; if the commit fails, only
        `committed` does."""
        ran: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        committed = self._submit(fn, ran)
        committed.add_done_callback(lambda _: _tell_ran_of(ran, committed))
        return WriteStages(ran, committed)

    def _submit(self, fn: WriteFn[T], ran: asyncio.Future[T] | None = None) -> asyncio.Future[T]:
        """The write's committed future: on SQLite queued for the writer's next batch; elsewhere
        its own transaction in a writer thread."""
        loop = asyncio.get_running_loop()
        if self._queue is None:
            if self.is_sqlite:
                raise RuntimeError("Database.start() was not called")
            return loop.run_in_executor(self._writer, self._write_one, fn, ran)
        committed: asyncio.Future[T] = loop.create_future()
        self._queue.put_nowait(_WriteRequest(fn, committed, ran))
        return committed

    async def _write_loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < GROUP_COMMIT_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [r for r in batch if not r.future.cancelled()]
            if not batch:
                continue
            outcomes = await loop.run_in_executor(self._writer, self._commit_batch, batch)
            for request, (ok, value) in zip(batch, outcomes, strict=True):
                if request.future.done():
                    continue
                if ok:
                    request.future.set_result(value)
                else:
                    request.future.set_exception(value)

    def _commit_batch(self, batch: list[_WriteRequest]) -> list[tuple[bool, Any]]:
        """In the writer thread: every write of the batch in one transaction, each in a savepoint."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                for request in batch:
                    try:
                        with session.begin_nested():
                            value = request.fn(session)
                        _has_run(request.ran, value)
                        outcomes.append((True, value))
                    except Exception as exc:  # noqa: BLE001 - delivered to its caller
                        outcomes.append((False, _translate(exc)))
        except Exception as exc:  # noqa: BLE001 - the commit failed: every write of the batch failed
            error = _translate(exc)
            log.error("database commit failed", error=str(exc), writes=len(batch))
            return [(False, error) for _ in batch]
        return outcomes

    async def ping(self) -> None:
        await self.read(lambda s: s.execute(text("SELECT 1")))
