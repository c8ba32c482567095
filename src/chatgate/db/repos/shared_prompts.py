"""The administrators' prompt collection, shown to everyone."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import SharedPrompt


def list_shared(s: DbSession) -> Sequence[SharedPrompt]:
    query = sa.select(SharedPrompt).order_by(
        SharedPrompt.position, SharedPrompt.created_at, SharedPrompt.id
    )
    return s.execute(query).scalars().all()


def get_shared(s: DbSession, prompt_id: str) -> SharedPrompt | None:
    return s.get(SharedPrompt, prompt_id)


def add_shared(s: DbSession, prompt: SharedPrompt) -> SharedPrompt:
    s.add(prompt)
    s.flush()
    return prompt


def next_position(s: DbSession) -> int:
    highest = s.execute(sa.select(sa.func.max(SharedPrompt.position))).scalar_one()
    return int(highest) + 1 if highest is not None else 0


def delete_shared(s: DbSession, prompt_id: str) -> bool:
    result = s.execute(sa.delete(SharedPrompt).where(SharedPrompt.id == prompt_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
