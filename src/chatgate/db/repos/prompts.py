"""A person's prompt library: titles (`key`) unique per person, oldest first."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import Prompt


def list_prompts(s: DbSession, user_id: str) -> Sequence[Prompt]:
    query = (
        sa.select(Prompt).where(Prompt.user_id == user_id).order_by(Prompt.created_at, Prompt.id)
    )
    return s.execute(query).scalars().all()


def count_prompts(s: DbSession, user_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(Prompt).where(Prompt.user_id == user_id)
    return int(s.execute(query).scalar_one())


def get_prompt(s: DbSession, user_id: str, prompt_id: str) -> Prompt | None:
    query = sa.select(Prompt).where(Prompt.id == prompt_id, Prompt.user_id == user_id)
    return s.execute(query).scalar_one_or_none()


def find_by_key(s: DbSession, user_id: str, key: str) -> Prompt | None:
    query = sa.select(Prompt).where(Prompt.user_id == user_id, Prompt.key == key)
    return s.execute(query).scalar_one_or_none()


def add_prompt(s: DbSession, prompt: Prompt) -> Prompt:
    s.add(prompt)
    s.flush()
    return prompt


def delete_prompt(s: DbSession, user_id: str, prompt_id: str) -> bool:
    result = s.execute(sa.delete(Prompt).where(Prompt.id == prompt_id, Prompt.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_all(s: DbSession, user_id: str) -> int:
    result = s.execute(sa.delete(Prompt).where(Prompt.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
