"""Checkpoints append what arrived since the last one; the stored row always equals the text
the live answer had at its last successful checkpoint — across many checkpoints, a failed one,
one that landed but reported failure, a continued answer and a late one after the finish.

Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.models import AnswerStatus, Conversation, Message, User
from chatgate.db.repos import conversations as repo
from chatgate.errors import StorageUnavailable
from chatgate.ids import new_id, utcnow
from chatgate.services.generations.ticker import Ticker
from chatgate.services.live import LiveGeneration

PIECES = ["Hello", " 你好", " 🌍", "", " it's", " 100%", " `code`", "\n\n", " done"]


class FlakyDatabase(Database):
    """Fails the next write on request: before it runs, or after it has committed."""

    fail_next: str | None = None

    async def write(self, fn: Callable[[DbSession], Any]) -> Any:
        mode, self.fail_next = self.fail_next, None
        if mode == "before":
            raise StorageUnavailable()
        result = await super().write(fn)
        if mode == "after":  # committed, but the caller hears a failure (a lost reply)
            raise StorageUnavailable()
        return result


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[FlakyDatabase]:
    database = FlakyDatabase(database_url)
    await database.start()
    yield database
    await database.close()


async def _answer_row(db: Database, *, content: str = "", reasoning: str = "") -> str:
    user_id, conversation_id, answer_id = new_id(), new_id(), new_id()

    def add(s: DbSession) -> None:
        s.add(User(id=user_id, username=user_id, username_key=user_id))
        s.flush()
        s.add(Conversation(id=conversation_id, user_id=user_id))
        s.flush()
        repo.add_message(
            s,
            Message(
                id=answer_id,
                conversation_id=conversation_id,
                user_id=user_id,
                role="assistant",
                content=content,
                reasoning=reasoning,
                status=AnswerStatus.queued,
            ),
        )

    await db.write(add)
    return answer_id


async def _stored(db: Database, answer_id: str) -> tuple[str, str, str]:
    def get(s: DbSession) -> tuple[str, str, str]:
        row = s.get(Message, answer_id)
        assert row is not None
        return row.content, row.reasoning, row.status

    return await db.read(get)


def _live(answer_id: str, *, prefix: str = "", reasoning_prefix: str = "") -> LiveGeneration:
    generation = LiveGeneration(
        id=answer_id,
        user_id="u",
        conversation_id="c",
        user_message_id="q",
        model="m",
        provider="p",
        prefix=prefix,
        reasoning_prefix=reasoning_prefix,
        clock=asyncio.get_running_loop().time,
    )
    generation.status = AnswerStatus.streaming
    generation.emit("start", {"message_id": answer_id})
    return generation


@pytest.mark.parametrize("continued", [False, True])
async def test_many_checkpoints_and_failed_ones_store_the_text_exactly_once(
    db: FlakyDatabase, make_settings: Callable[..., Settings], continued: bool
) -> None:
    prefix, reasoning_prefix = ("Earlier text. ", "Earlier thought. ") if continued else ("", "")
    live: dict[str, LiveGeneration] = {}
    for _ in range(3):  # several answers at once: one statement checkpoints them all
        answer_id = await _answer_row(db, content=prefix, reasoning=reasoning_prefix)
        live[answer_id] = _live(answer_id, prefix=prefix, reasoning_prefix=reasoning_prefix)
    ticker = Ticker(db, make_settings(), live, OrderedDict())

    for tick in range(40):
        for n, generation in enumerate(live.values()):
            generation.reasoning(f"think{tick} ")
            for piece in PIECES[n:]:
                generation.text(f"{piece}{tick}")
        if tick in (7, 21):
            db.fail_next = "before"
        if tick in (12, 13, 30):
            db.fail_next = "after"
        await ticker.checkpoint()
        for answer_id, generation in live.items():
            content, reasoning, status = await _stored(db, answer_id)
            if tick in (7, 21):  # nothing landed: the row still has the previous checkpoint
                assert generation.text_so_far().startswith(content)
                assert len(content) < len(generation.text_so_far())
            else:  # landed (even when the reply said otherwise): exactly the text so far
                assert content == generation.text_so_far()
                assert reasoning == generation.reasoning_so_far()
                assert status == "streaming"

    await ticker.checkpoint()  # nothing new: no write, nothing changes
    for answer_id, generation in live.items():
        content, reasoning, _ = await _stored(db, answer_id)
        assert content == generation.text_so_far() and content.startswith(prefix)
        assert reasoning.count("think") == 40 and reasoning.startswith(reasoning_prefix)


async def test_a_late_checkpoint_never_turns_a_finished_answer_back_into_a_partial_one(
    db: FlakyDatabase, make_settings: Callable[..., Settings]
) -> None:
    answer_id = await _answer_row(db)
    generation = _live(answer_id)
    ticker = Ticker(db, make_settings(), {answer_id: generation}, OrderedDict())
    generation.text("partial")
    await ticker.checkpoint()
    generation.text(" and the rest")
    late = {
        "mid": answer_id,
        "content": " and the rest",
        "reasoning": "",
        "status": "streaming",
        "updated_at": utcnow(),
    }

    def finish(s: DbSession) -> None:
        repo.update_message(
            s, answer_id, content=generation.text_so_far(), status=AnswerStatus.complete
        )

    await db.write(finish)
    await db.write(lambda s: repo.append_to_messages(s, [late]))
    await db.write(lambda s: repo.checkpoint_messages(s, [{**late, "content": "partial"}]))
    assert await _stored(db, answer_id) == ("partial and the rest", "", "complete")
