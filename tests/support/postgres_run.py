"""For the second pass of `make pytest-postgres` (loaded with `-p tests.support.postgres_run`):
keep only the tests that reach the database or Redis it points at.

TEST_DATABASE_URL and TEST_REDIS_URL take effect through the `database_url` fixture (every
harness, client and settings fixture depends on it) or through the `POSTGRES_URL`/`REDIS_URL`
names of tests/conftest.py. Any other test (the parsers, the fakes, a server subprocess on its
own SQLite file, the multi-instance tests on their own scratch databases) runs exactly as it did
in the SQLite pass: running it again costs minutes of CI and proves nothing new.
"""

from __future__ import annotations

import pytest

SETTINGS_NAMES = ("POSTGRES_URL", "REDIS_URL")


def reaches_the_configured_storage(item: pytest.Item) -> bool:
    if "database_url" in getattr(item, "fixturenames", ()):
        return True
    module = getattr(item, "module", None)
    return any(hasattr(module, name) for name in SETTINGS_NAMES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (kept if reaches_the_configured_storage(item) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
