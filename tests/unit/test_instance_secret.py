"""The key behind every stored token hash stays the same when a single instance gets company."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.security.secrets import load_or_create_secret
from chatgate.services.site_settings import instance_secret


async def _secret(settings: Settings) -> bytes:
    db = Database(settings.resolved_database_url)
    await db.start()
    try:
        return await instance_secret(settings, db)
    finally:
        await db.close()


async def test_turning_on_redis_keeps_the_single_instance_secret(
    make_settings: Callable[..., Settings],
) -> None:
    alone = make_settings(redis_url=None)
    before = load_or_create_secret(alone.data_dir)
    assert await _secret(alone) == before

    shared: Any = make_settings(redis_url="redis://127.0.0.1:6379/15")
    assert await _secret(shared) == before  # seeded from the data directory
    assert await _secret(shared) == before  # and then read back from the shared database


async def test_instances_without_a_data_directory_secret_agree_on_one(
    make_settings: Callable[..., Settings],
) -> None:
    first = await _secret(make_settings(redis_url="redis://127.0.0.1:6379/15"))
    assert len(first) == 32
    assert await _secret(make_settings(redis_url="redis://127.0.0.1:6379/15")) == first
