"""Lookups by key (a session, an API key): on SQLite answered on the event loop's own connection,
which sees every committed write at once; a busy database is waited for in a reader thread, never
on the event loop. On PostgreSQL they are ordinary reads.

Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import User
from chatgate.ids import new_id


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.start()
    yield database
    await database.close()


def _username(user_id: str):  # type: ignore[no-untyped-def]
    def find(s: DbSession) -> tuple[str | None, int]:
        row = s.execute(text("SELECT username FROM users WHERE id = :id"), {"id": user_id}).first()
        return (row[0] if row else None), threading.get_ident()

    return find


async def test_a_lookup_sees_what_was_committed_just_before(db: Database) -> None:
    for round_ in range(20):
        user_id = new_id()
        assert (await db.look_up(_username(user_id)))[0] is None

        def add(s: DbSession, user_id: str = user_id, round_: int = round_) -> None:
            s.add(User(id=user_id, username=f"u{round_}", username_key=f"u{round_}"))

        await db.write(add)
        assert (await db.look_up(_username(user_id)))[0] == f"u{round_}"

        def rename(s: DbSession, user_id: str = user_id) -> None:
            s.execute(text("UPDATE users SET username = 'renamed' WHERE id = :id"), {"id": user_id})

        await db.write(rename)
        assert (await db.look_up(_username(user_id)))[0] == "renamed"


async def test_on_sqlite_a_lookup_takes_no_thread(db: Database) -> None:
    _, thread = await db.look_up(_username(new_id()))
    if db.is_sqlite:
        assert thread == threading.get_ident()
    else:
        assert thread != threading.get_ident()


async def test_a_busy_database_is_waited_for_in_a_thread_not_on_the_event_loop(
    db: Database,
) -> None:
    """SQLite makes a WAL reader wait only while another connection recovers the WAL index:
    the lookup hears "database is locked" after a short timeout and asks in a reader thread."""
    if not db.is_sqlite:
        pytest.skip("SQLite's locks: a PostgreSQL lookup is already a read in a thread")
    loop_thread = threading.get_ident()
    asked_on: list[int] = []

    def find(s: DbSession) -> str:
        asked_on.append(threading.get_ident())
        if threading.get_ident() == loop_thread:
            raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))
        return str(s.execute(text("SELECT 'found'")).scalar())

    assert await db.look_up(find) == "found"
    assert asked_on[0] == loop_thread and asked_on[1] != loop_thread


async def test_other_errors_of_a_lookup_are_not_retried(db: Database) -> None:
    calls = 0

    def broken(s: DbSession) -> None:
        nonlocal calls
        calls += 1
        s.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(OperationalError if db.is_sqlite else ProgrammingError):
        await db.look_up(broken)
    assert calls == 1
