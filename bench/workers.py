"""`python -m bench --workers N`: ChatGate as `chatgate serve --workers N` on PostgreSQL + Redis,
its processes pinned to N cores, driven like the main run (issue 17, acceptance 3: two workers on
two cores next to one worker on one core: run `--workers 1`, then `--workers 2`).

`--workers 1` is one `chatgate serve` process on PostgreSQL + Redis, the same storage and
coordination as N workers, so the two runs differ only in the number of processes and cores.
A workers run writes bench/results/workers-N.json and leaves docs/ alone: its numbers are not the
SQLite ones the main section of docs/benchmarks.md reports.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

from bench.chatgate_proc import ChatGateInstance
from bench.protocol import answer


def cores(first: int | None, count: int) -> list[int] | None:
    """`count` cores from `first` on, wrapping around: on a 2-core machine two workers share a
    core with the fake and the driver (reported with the run)."""
    if first is None:
        return None
    total = os.cpu_count() or 1
    return [(first + i) % total for i in range(count)]


@contextlib.contextmanager
def shared_storage(instance: ChatGateInstance) -> Iterator[str]:
    """A scratch PostgreSQL database and a Redis prefix for `instance`; the database URL."""
    from bench.instances import (
        REDIS_URL,
        scratch_database,
    )  # it imports bench.run, which imports us

    with scratch_database() as database_url:
        instance.env |= {
            "CHATGATE_DATABASE_URL": database_url,
            "CHATGATE_REDIS_URL": REDIS_URL,
            "CHATGATE_REDIS_PREFIX": f"bench-{secrets.token_hex(4)}",
            "CHATGATE_SECRET_KEY": secrets.token_hex(32),
        }
        yield database_url


def stored_everything(database_url: str, tokens: int) -> dict[str, int]:
    """As bench.run.stored_everything, from PostgreSQL."""
    import psycopg

    from bench.run import tally  # bench.run imports this module

    expected = answer(tokens)
    with psycopg.connect(database_url.replace("+psycopg", "")) as db:
        rows = db.execute(
            "SELECT m.status, m.content = %s FROM messages m JOIN users u ON u.id = m.user_id "
            "WHERE m.role = 'assistant' AND u.username LIKE 'bench-user-%%'",
            (expected,),
        ).fetchall()
    return tally(rows)
