"""A person's prompt library, on the server so it follows the account to every device.

Titles (`key`) are unique per person, as in chatgpt-web's prompt store, whose JSON
(`[{"key": "title", "value": "prompt text"}]`, or awesome-chatgpt-prompts' `{act, prompt}`)
imports (merging: a known title takes the imported text) and exports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import Prompt
from chatgate.db.repos import prompts as repo
from chatgate.errors import Conflict, NotFound, ValidationFailed
from chatgate.ids import utcnow

KEY_MAX = 200
VALUE_MAX = 20_000
LIBRARY_MAX = 1000
TITLE_TAKEN = "You already have a prompt with this title."
TOO_MANY = f"A prompt library holds at most {LIBRARY_MAX} prompts."
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """One prompt of a person's library, as they see it."""

    id: str
    key: str
    value: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, prompt: Prompt) -> PromptInfo:
        return cls(prompt.id, prompt.key, prompt.value, prompt.created_at, prompt.updated_at)


def _library(s: DbSession, user_id: str) -> list[PromptInfo]:
    return [PromptInfo.of(p) for p in repo.list_prompts(s, user_id)]


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int
    prompts: Sequence[PromptInfo]


def _text(value: Any) -> str | None:
    """A string that every backend can store (no NUL, no lone surrogates), else None."""
    if not isinstance(value, str) or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def clean_prompt(key: str, value: str) -> tuple[str, str]:
    title = " ".join(key.split())
    if not title or not value.strip():
        raise ValidationFailed("A prompt needs a title and a text.")
    if len(title) > KEY_MAX or len(value) > VALUE_MAX:
        raise ValidationFailed(
            f"A prompt's title has at most {KEY_MAX} characters, its text {VALUE_MAX}."
        )
    return title, value


def parse_prompt_store(data: Any) -> list[tuple[str, str]]:
    """The prompts of a prompt-store list; items without a title and a text are left out,
    overlong ones cut; a later item with the same title wins."""
    if not isinstance(data, list):
        raise ValidationFailed('A prompt file is a JSON list of {"key": …, "value": …} objects.')
    found: dict[str, str] = {}
    for item in data:
        if not isinstance(item, dict):
            continue
        key = _text(item.get("key", item.get("act")))
        value = _text(item.get("value", item.get("prompt")))
        if key is None or value is None:
            continue
        title = " ".join(key.split())[:KEY_MAX].strip()
        if title and value.strip():
            found[title] = value[:VALUE_MAX]
    if data and not found:
        raise ValidationFailed('This list contains no prompts with a "key" and a "value".')
    return list(found.items())


class Prompts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, user_id: str) -> Sequence[PromptInfo]:
        return await self._db.read(lambda s: _library(s, user_id))

    async def create(self, user_id: str, key: str, value: str) -> PromptInfo:
        title, text = clean_prompt(key, value)
        now = utcnow()

        def create(s: DbSession) -> PromptInfo:
            if repo.find_by_key(s, user_id, title) is not None:
                raise Conflict(TITLE_TAKEN)
            if repo.count_prompts(s, user_id) >= LIBRARY_MAX:
                raise ValidationFailed(TOO_MANY)
            prompt = Prompt(user_id=user_id, key=title, value=text, created_at=now, updated_at=now)
            return PromptInfo.of(repo.add_prompt(s, prompt))

        return await self._write(create)

    async def update(
        self, user_id: str, prompt_id: str, *, key: str | None, value: str | None
    ) -> PromptInfo:
        def update(s: DbSession) -> PromptInfo:
            prompt = repo.get_prompt(s, user_id, prompt_id)
            if prompt is None:
                raise NotFound("No such prompt.")
            title, text = clean_prompt(
                prompt.key if key is None else key, prompt.value if value is None else value
            )
            if title != prompt.key:
                other = repo.find_by_key(s, user_id, title)
                if other is not None and other.id != prompt.id:
                    raise Conflict(TITLE_TAKEN)
            prompt.key, prompt.value, prompt.updated_at = title, text, utcnow()
            s.flush()
            return PromptInfo.of(prompt)

        return await self._write(update)

    async def delete(self, user_id: str, prompt_id: str) -> None:
        def delete(s: DbSession) -> None:
            if not repo.delete_prompt(s, user_id, prompt_id):
                raise NotFound("No such prompt.")

        await self._db.write(delete)

    async def clear(self, user_id: str) -> int:
        return await self._db.write(lambda s: repo.delete_all(s, user_id))

    async def import_list(self, user_id: str, data: Any) -> ImportResult:
        """Merge a prompt-store list into the library, all or nothing."""
        incoming = parse_prompt_store(data)
        now = utcnow()

        def merge(s: DbSession) -> ImportResult:
            existing = {p.key: p for p in repo.list_prompts(s, user_id)}
            added = updated = 0
            for key, value in incoming:
                prompt = existing.get(key)
                if prompt is None:
                    if len(existing) >= LIBRARY_MAX:
                        raise ValidationFailed(TOO_MANY)
                    # One microsecond apart: the library keeps the file's order.
                    at = now + timedelta(microseconds=added)
                    prompt = Prompt(
                        user_id=user_id, key=key, value=value, created_at=at, updated_at=at
                    )
                    existing[key] = repo.add_prompt(s, prompt)
                    added += 1
                elif prompt.value != value:
                    prompt.value, prompt.updated_at = value, now
                    updated += 1
            s.flush()
            return ImportResult(added, updated, _library(s, user_id))

        return await self._write(merge)

    async def _write(self, fn: Callable[[DbSession], T]) -> T:
        try:
            return await self._db.write(fn)
        except IntegrityError as exc:  # the same title saved from two devices at once
            raise Conflict(TITLE_TAKEN) from exc
