"""The rows a question writes: the question, its queued answer, and its line in the ledger.

Built in one place because the start-up rehearsal (`services/rehearsal.py`) must insert exactly
the columns the chat paths insert: a different column set is a different statement to compile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chatgate.db.models import AnswerStatus, Message, UsageRecord
from chatgate.ids import new_id


def new_question(
    conversation_id: str, user_id: str, parent_id: str | None, content: str
) -> Message:
    """A question's row; it is stamped when it is stored, with its answer."""
    return Message(
        id=new_id(),
        conversation_id=conversation_id,
        user_id=user_id,
        parent_id=parent_id,
        role="user",
        content=content,
        status="complete",
    )


def queued_answer(
    answer_id: str,
    conversation_id: str,
    user_id: str,
    question_id: str | None,
    *,
    model: str,
    provider: str,
    asked_at: datetime,
) -> Message:
    """A new answer's row, queued; it sorts after its question even when both land in the same
    microsecond."""
    answered_at = asked_at + timedelta(microseconds=1)
    return Message(
        id=answer_id,
        conversation_id=conversation_id,
        user_id=user_id,
        parent_id=question_id,
        role="assistant",
        content="",
        status=AnswerStatus.queued,
        model=model,
        provider=provider,
        created_at=answered_at,
        updated_at=answered_at,
    )


def reserved_usage(
    usage_id: str,
    user_id: str,
    answer_id: str | None,
    *,
    source: str,
    model: str,
    provider: str,
    reserved_tokens: int,
    now: datetime,
) -> UsageRecord:
    """A request's line in the ledger, holding its reservation until the finish reconciles it;
    `answer_id` is None where no message is kept (`/v1`)."""
    return UsageRecord(
        id=usage_id,
        user_id=user_id,
        message_id=answer_id,
        source=source,
        model=model,
        provider=provider,
        reserved_tokens=reserved_tokens,
        day=now.date().isoformat(),
        created_at=now,
    )
