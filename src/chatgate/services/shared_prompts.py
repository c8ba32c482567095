"""The prompt collection administrators keep for everyone, in the UI languages.

Each prompt holds one title and text per language (`{"en-US": {"key", "value"}, "zh-CN": …}`);
a reader gets the one for their language: the exact code, else the same language in another
region, else English, else any. The first time the collection is read, an instance gets the
starter set (data/starter_prompts.json) once; what administrators then delete stays deleted.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import SharedPrompt
from chatgate.db.repos import shared_prompts as repo
from chatgate.db.repos import site_settings as settings_repo
from chatgate.errors import NotFound, ValidationFailed
from chatgate.ids import utcnow
from chatgate.services.prompts import clean_prompt

STARTER_FILE = Path(__file__).parent.parent / "data" / "starter_prompts.json"
SEEDED_KEY = "shared_prompts"
FALLBACK = "en-US"
MAX_LANGUAGES = 30
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    id: str
    key: str
    value: str
    locale: str


@dataclass(frozen=True, slots=True)
class SharedPromptInfo:
    """A shared prompt with every translation, as administrators see it."""

    id: str
    translations: dict[str, Any]
    position: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, prompt: SharedPrompt) -> SharedPromptInfo:
        return cls(
            prompt.id, prompt.translations, prompt.position, prompt.created_at, prompt.updated_at
        )


def _collection(s: DbSession) -> list[SharedPromptInfo]:
    return [SharedPromptInfo.of(p) for p in repo.list_shared(s)]


def clean_translations(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Language code → {"key", "value"}; entries with an empty title and text are dropped."""
    result: dict[str, dict[str, str]] = {}
    for code, entry in raw.items():
        if not LANGUAGE.match(code):
            raise ValidationFailed(f"{code!r} is not a language code like en-US or zh-CN.")
        if not isinstance(entry, dict):
            raise ValidationFailed("Each language has a title (key) and a text (value).")
        key, value = str(entry.get("key", "")), str(entry.get("value", ""))
        if not key.strip() and not value.strip():
            continue
        title, text = clean_prompt(key, value)
        result[code] = {"key": title, "value": text}
    if not result:
        raise ValidationFailed("A shared prompt needs a title and a text in one language at least.")
    if len(result) > MAX_LANGUAGES:
        raise ValidationFailed(f"A shared prompt has at most {MAX_LANGUAGES} languages.")
    return result


def resolve(translations: dict[str, Any], locale: str | None) -> tuple[str, dict[str, str]] | None:
    """The translation a reader of `locale` sees, with its language code."""
    if not translations:
        return None
    codes = sorted(translations)
    wanted = (locale or FALLBACK).lower()
    language = wanted.split("-")[0]
    for choose in (
        lambda c: c.lower() == wanted,
        lambda c: c.lower().split("-")[0] == language,
        lambda c: c == FALLBACK,
        lambda c: c.lower().split("-")[0] == "en",
        lambda _c: True,
    ):
        for code in codes:
            if choose(code):
                return code, translations[code]
    return None


@cache
def starter_set() -> list[dict[str, dict[str, str]]]:
    data = json.loads(STARTER_FILE.read_text(encoding="utf-8"))
    return [clean_translations(item["translations"]) for item in data]


class SharedPrompts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, locale: str | None) -> list[ResolvedPrompt]:
        """The collection in the reader's language."""
        result = []
        for prompt in await self.all():
            found = resolve(prompt.translations, locale)
            if found is not None:
                code, text = found
                result.append(ResolvedPrompt(prompt.id, text["key"], text["value"], code))
        return result

    async def all(self) -> Sequence[SharedPromptInfo]:
        """Every prompt with every translation (for administrators)."""
        seeded, prompts = await self._db.read(
            lambda s: (settings_repo.get_instance_setting(s, SEEDED_KEY), _collection(s))
        )
        if seeded is None:
            await self._seed()
            prompts = await self._db.read(_collection)
        return prompts

    async def create(self, translations: dict[str, Any]) -> SharedPromptInfo:
        clean = clean_translations(translations)
        now = utcnow()
        await self.all()  # the starter set comes first

        def create(s: DbSession) -> SharedPromptInfo:
            prompt = SharedPrompt(
                translations=clean, position=repo.next_position(s), created_at=now, updated_at=now
            )
            return SharedPromptInfo.of(repo.add_shared(s, prompt))

        return await self._db.write(create)

    async def update(self, prompt_id: str, translations: dict[str, Any]) -> SharedPromptInfo:
        clean = clean_translations(translations)

        def update(s: DbSession) -> SharedPromptInfo:
            prompt = repo.get_shared(s, prompt_id)
            if prompt is None:
                raise NotFound("No such shared prompt.")
            prompt.translations, prompt.updated_at = clean, utcnow()
            s.flush()
            return SharedPromptInfo.of(prompt)

        return await self._db.write(update)

    async def delete(self, prompt_id: str) -> None:
        def delete(s: DbSession) -> None:
            if not repo.delete_shared(s, prompt_id):
                raise NotFound("No such shared prompt.")

        await self._db.write(delete)

    async def _seed(self) -> None:
        starter = starter_set()
        now = utcnow()

        def seed(s: DbSession) -> None:
            if settings_repo.get_instance_setting(s, SEEDED_KEY) is not None:
                return
            for position, translations in enumerate(starter):
                at = now + timedelta(microseconds=position)
                prompt = SharedPrompt(
                    translations=translations, position=position, created_at=at, updated_at=at
                )
                repo.add_shared(s, prompt)
            settings_repo.put_instance_setting(
                s, SEEDED_KEY, {"starter_set": len(starter), "at": now.isoformat()}
            )

        # Another instance seeding at the same moment makes this one's marker collide: theirs won.
        with contextlib.suppress(IntegrityError):
            await self._db.write(seed)
