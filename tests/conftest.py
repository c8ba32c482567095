"""Shared fixtures: a fresh database per test, the app in-process, signed-in clients.

The whole suite runs on SQLite; with TEST_DATABASE_URL=postgresql+psycopg://… the same test
bodies run on PostgreSQL (`make pytest-postgres`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from chatgate.app import create_app
from chatgate.config import Settings
from chatgate.db.engine import sync_url
from chatgate.db.migrate import upgrade
from chatgate.db.models import Base
from chatgate.services.container import Services

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL schema to truncate."""
    if POSTGRES_URL:
        engine = create_engine(sync_url(POSTGRES_URL), poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
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
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "host": "127.0.0.1",
            "log_level": "warning",
        }
        values.update(overrides)
        return Settings(**values)

    return make


class Harness:
    """The running app, plus helpers to make clients and users."""

    def __init__(self, app: FastAPI, stack: AsyncExitStack) -> None:
        self.app = app
        self._stack = stack

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


@pytest.fixture
async def make_harness(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Harness:
            app = create_app(make_settings(**overrides))
            await stack.enter_async_context(LifespanManager(app))
            return Harness(app, stack)

        yield make


@pytest.fixture
async def harness(make_harness: Callable[..., Any]) -> Harness:
    h: Harness = await make_harness()
    return h


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
