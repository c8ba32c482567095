"""Shared fixtures: a fresh database per test, the app in-process, signed-in clients.

The whole suite runs on SQLite; with TEST_DATABASE_URL=postgresql+psycopg://… the same test
bodies run on PostgreSQL (`make pytest-postgres`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from chatgate.app import create_app
from chatgate.config import Settings
from chatgate.db.engine import sync_url
from chatgate.db.migrate import upgrade
from chatgate.db.models import Base
from chatgate.services.container import Services


def _own_database(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets its own PostgreSQL database (`test_gw0`, …), created
    on first use: the workers' schema resets and TRUNCATEs would otherwise hit each other."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


SHARED_POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
POSTGRES_URL = _own_database(SHARED_POSTGRES_URL)
REDIS_URL = os.environ.get("TEST_REDIS_URL")
PASSWORD = "correct horse battery staple"


# structlog's default renders tracebacks with rich, locals and all: slow (minutes for a big
# exception under load) and noisy. `chatgate serve` configures plain ones; so do the tests.
structlog.configure(
    processors=[
        *structlog.get_config()["processors"][:-1],
        structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        ),
    ]
)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2id with tiny parameters in-process: the production cost (~0.3 s a hash) would
    dominate the suite. tests/unit/test_passwords.py checks the production parameters."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from chatgate.security.passwords import use_hasher

    with use_hasher(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))):
        yield


def _create_database(server_url: str, name: str) -> None:
    engine = create_engine(sync_url(server_url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL schema to truncate."""
    if POSTGRES_URL:
        if SHARED_POSTGRES_URL and POSTGRES_URL != SHARED_POSTGRES_URL:
            _create_database(SHARED_POSTGRES_URL, str(make_url(POSTGRES_URL).database))
        engine = create_engine(sync_url(POSTGRES_URL), poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> str:
    if POSTGRES_URL:
        engine = create_engine(sync_url(POSTGRES_URL), poolclass=NullPool)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        engine.dispose()
        return POSTGRES_URL
    target = tmp_path / "data" / "chatgate.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "host": "127.0.0.1",
            "log_level": "warning",
            "shutdown_grace_seconds": 0,
        }
        if REDIS_URL:
            values["redis_url"] = REDIS_URL
            values["redis_prefix"] = f"test-{uuid.uuid4().hex[:12]}"
        values.update(overrides)
        return Settings(**values)

    return make


class Harness:
    """The running app, plus helpers to make clients and users."""

    def __init__(self, app: FastAPI, stack: AsyncExitStack, lifespan: LifespanManager) -> None:
        self.app = app
        self._stack = stack
        self._lifespan = lifespan
        self._closed = False
        self._url: str | None = None

    async def close(self) -> None:
        """Shut this instance down now (as before a restart); the fixture would do it at the end."""
        if not self._closed:
            self._closed = True
            await self._lifespan.__aexit__(None, None, None)

    async def close_quietly(self) -> None:
        await self.close()

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def client(self, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(
            app=self.app, client=kwargs.pop("peer", ("127.0.0.1", 40000))
        )
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs)
        return await self._stack.enter_async_context(client)

    async def user(
        self, username: str, *, role: str = "user", password: str = PASSWORD
    ) -> httpx.AsyncClient:
        """A client signed in as a new user."""
        await self.services.users.create_user(username, password, role=role)
        client = await self.client()
        response = await client.post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return client

    async def sql(self, query: str) -> Any:
        """The first row of a read-only SQL query, for checks on what was stored."""
        return await self.services.db.read(lambda s: s.execute(text(query)).one())

    async def serve(self) -> str:
        """Serve the app on a real loopback socket (for streams read as they arrive); its URL."""
        if self._url is None:
            config = uvicorn.Config(
                self.app, host="127.0.0.1", port=0, lifespan="off", log_config=None
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            self._url = f"http://127.0.0.1:{port}"

            async def stop() -> None:
                server.should_exit = True
                await task

            self._stack.push_async_callback(stop)
        return self._url

    async def remote_user(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        """A socket client carrying the same session as `client`."""
        base = await self.serve()
        remote = httpx.AsyncClient(base_url=base, cookies=dict(client.cookies), timeout=30)
        return await self._stack.enter_async_context(remote)


@pytest.fixture
async def make_harness(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Harness:
            app = create_app(make_settings(**overrides))
            # Generous: a loaded CI machine on PostgreSQL can take seconds to close pools.
            lifespan = LifespanManager(app, startup_timeout=30, shutdown_timeout=30)
            await lifespan.__aenter__()
            harness = Harness(app, stack, lifespan)
            stack.push_async_callback(harness.close_quietly)
            return harness

        yield make


@pytest.fixture
async def harness(make_harness: Callable[..., Any]) -> Harness:
    h: Harness = await make_harness()
    return h
