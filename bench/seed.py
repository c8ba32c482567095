"""The data the API probes read: 200 small conversations and one of 1,000 messages (answers of
about 500 characters), owned by the bystander user.

The long conversation is written straight into SQLite (a chain of 500 question/answer pairs in
one transaction, next to the running server, as WAL allows); the API then has to return it
exactly, which checks the rows are what ChatGate itself would have written. If that check fails
(the schema moved on), the conversation is seeded the slow way, through the chat API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.chatgate_api import ChatGateApi, UserSession
from bench.protocol import answer

REPLY_TOKENS = 71  # ≈ 500 characters per answer
PAIRS = 500  # 1,000 messages
CONVERSATIONS = 200
SEED_MODEL = "bench-model"


@dataclass
class Seeded:
    user: UserSession
    long_conversation: str
    method: str


def _question(i: int) -> str:
    return f"Question {i}: tokens={REPLY_TOKENS} rate=0 ttft=0"


def _new_id(at: datetime) -> str:
    millis = int(at.timestamp() * 1000)
    return f"{millis:012x}{os.urandom(10).hex()}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def insert_chain(database: Path, conversation: str) -> None:
    """500 question/answer pairs as one branch, then the conversation's leaf points at its end."""
    reply = answer(REPLY_TOKENS)
    start = datetime.now(UTC) - timedelta(days=1)
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        (user_id,) = db.execute(
            "SELECT user_id FROM conversations WHERE id = ?", (conversation,)
        ).fetchone()
        rows: list[tuple[object, ...]] = []
        parent: str | None = None
        for i in range(2 * PAIRS):
            at = start + timedelta(seconds=i)
            message_id = _new_id(at)
            role = "user" if i % 2 == 0 else "assistant"
            content = _question(i // 2) if role == "user" else reply
            stamp = _stamp(at)
            rows.append(
                (
                    message_id,
                    conversation,
                    user_id,
                    parent,
                    role,
                    content,
                    "complete",
                    SEED_MODEL if role == "assistant" else None,
                    "fake" if role == "assistant" else None,
                    10 if role == "assistant" else None,
                    REPLY_TOKENS if role == "assistant" else None,
                    stamp,
                    stamp,
                    stamp if role == "assistant" else None,
                )
            )
            parent = message_id
        with db:
            db.executemany(
                "INSERT INTO messages (id, conversation_id, user_id, parent_id, role, content, "
                "status, model, provider, prompt_tokens, completion_tokens, created_at, "
                "updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
                (parent, _stamp(datetime.now(UTC)), conversation),
            )


async def _through_api(api: ChatGateApi, user: UserSession, conversation: str) -> None:
    for i in range(PAIRS):
        await api.ask(user, conversation, _question(i))


async def _verify(api: ChatGateApi, user: UserSession, conversation: str) -> bool:
    stored = await api.messages(user, conversation)
    return (
        len(stored) == 2 * PAIRS
        and stored[-1]["content"] == answer(REPLY_TOKENS)
        and stored[0]["role"] == "user"
        and all(m["status"] == "complete" for m in stored)
    )


async def seed(api: ChatGateApi, user: UserSession, database: Path) -> Seeded:
    await asyncio.gather(
        *(api.create_conversation(user, title=f"Chat {i}") for i in range(CONVERSATIONS))
    )
    settings = {"context_messages": 0}
    long_id = await api.create_conversation(user, title="A long conversation", settings=settings)
    method = "sqlite"
    try:
        await asyncio.to_thread(insert_chain, database, long_id)
        ok = await _verify(api, user, long_id)
    except sqlite3.Error:
        ok = False
    if not ok:
        method = "api"
        long_id = await api.create_conversation(
            user, title="A long conversation", settings=settings
        )
        await _through_api(api, user, long_id)
        if not await _verify(api, user, long_id):
            raise RuntimeError("seeding the 1,000-message conversation failed")
    return Seeded(user, long_id, method)
