"""A dress rehearsal at start: a question's statements, run once and rolled back.

SQLAlchemy compiles a statement when it is first executed and keeps it per engine (0.1–0.5 ms
each, about fifteen on a question's way), and a reader thread opens its database connection on
first use. Without the rehearsal, the first question after a start paid those, 4–7 ms more than
the tenth (`bench/soak.py`, "first request after a start"). The rehearsal runs the same repository
calls with the same column sets as the chat paths, as one throwaway person asking one question
of a new conversation and through `/v1`, in transactions that always roll back: nothing it does
is ever committed, and a failure only logs (the first question then pays, as before).
"""

from __future__ import annotations

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import Conversation, User
from chatgate.db.repos import api_keys as api_keys_repo
from chatgate.db.repos import attachments as attachments_repo
from chatgate.db.repos import chat_defaults as chat_defaults_repo
from chatgate.db.repos import conversation_reads as reads
from chatgate.db.repos import conversations as repo
from chatgate.db.repos import sessions as sessions_repo
from chatgate.db.repos import usage as usage_repo
from chatgate.db.repos import users as users_repo
from chatgate.ids import new_id, utcnow
from chatgate.services.generations.rows import new_question, queued_answer, reserved_usage

log = structlog.get_logger(__name__)

MODEL, PROVIDER = "rehearsal", "rehearsal"


def read_a_question(s: DbSession, user_id: str, conversation_id: str) -> None:
    """What a question reads: the cookie's session, an API key, the chat defaults, the
    conversation with its messages; and what the page around it reads: the sidebar's list, the
    conversation as shown."""
    sessions_repo.get_session(s, new_id())
    api_keys_repo.get_api_key(s, new_id())
    chat_defaults_repo.get_chat_defaults(s, user_id)
    repo.get_conversation(s, user_id, conversation_id)
    repo.list_messages(s, conversation_id)
    reads.conversation_page(s, user_id, limit=1)
    reads.conversation_messages(s, user_id, conversation_id)
    attachments_repo.listed_by_conversation(s, [conversation_id])  # found, with messages


def write_a_question(s: DbSession) -> None:
    """What a question writes, in the order the chat paths write it, on rows made for it."""
    now = utcnow()
    name = f"rehearsal-{new_id()}"
    user = users_repo.add_user(s, User(username=name, username_key=name, role="user"))
    conversation = repo.add_conversation(s, Conversation(user_id=user.id, title="", settings={}))
    read_a_question(s, user.id, conversation.id)
    sessions_repo.touch_session(s, new_id(), now, now)
    api_keys_repo.touch_api_key(s, new_id(), now)
    usage_repo.lock_user(s, user.id)
    for stored in (False, True):  # `/v1` keeps no message; the browser path does
        answer_id, usage_id = new_id(), new_id()
        usage_repo.add_usage(
            s,
            reserved_usage(
                usage_id if stored else answer_id,
                user.id,
                answer_id if stored else None,
                source="chat" if stored else "api",
                model=MODEL,
                provider=PROVIDER,
                reserved_tokens=0,
                now=now,
            ),
        )
        if stored:
            question = new_question(conversation.id, user.id, None, "?")
            question.created_at = question.updated_at = now
            repo.add_message(s, question)
            answer = queued_answer(
                answer_id,
                conversation.id,
                user.id,
                question.id,
                model=MODEL,
                provider=PROVIDER,
                asked_at=now,
            )
            repo.add_message(s, answer)
            for values in ({"title": "?"}, {}):  # a first question titles its conversation
                repo.update_conversation(
                    s, conversation.id, current_leaf_id=answer_id, updated_at=now, **values
                )
            piece = {"content": "", "reasoning": "", "status": "streaming", "updated_at": now}
            live = [{"mid": answer_id, **piece}]
            repo.append_to_messages(s, live)
            repo.checkpoint_messages(s, live)
            repo.update_message(
                s,
                answer_id,
                content="",
                reasoning="",
                status="complete",
                prompt_tokens=0,
                completion_tokens=0,
                provider_state=None,
                finish_reason="stop",
                parts=None,
                updated_at=now,
                finished_at=now,
                error_code=None,
                error_message=None,
            )
        usage_repo.finish_usage(
            s,
            usage_id if stored else answer_id,
            status="complete",
            prompt_tokens=0,
            completion_tokens=0,
            estimated=False,
            credential=None,
            cost_micro_usd=0,
            finished_at=now,
        )


def read_any_question(s: DbSession) -> None:
    read_a_question(s, new_id(), new_id())


async def rehearse(db: Database) -> None:
    """Run a question's statements once on every engine and reader connection, rolled back."""
    try:
        await db.rehearse(write_a_question, read_any_question)
    except Exception as exc:  # noqa: BLE001 - only the first question's speed is at stake
        log.warning("start-up rehearsal failed; the first question compiles", error=str(exc))
