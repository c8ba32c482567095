"""Choices the administrator makes at run time (registration policy, default model, the
announcement banner). Kept in the database; they override the configuration file's values."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chatgate.config import Registration, Settings
from chatgate.db.engine import Database
from chatgate.db.repos import users as repo

KEY = "admin_choices"
FIELDS = ("registration", "default_model", "announcement", "sharing")


class Instance:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._choices: dict[str, Any] = {}

    async def load(self) -> None:
        async with self._db.read() as s:
            self._choices = await repo.get_instance_setting(s, KEY) or {}

    @property
    def registration(self) -> Registration:
        value = self._choices.get("registration")
        return Registration(value) if value else self._settings.registration

    @property
    def default_model(self) -> str | None:
        value = self._choices.get("default_model")
        return str(value) if value else None

    @property
    def announcement(self) -> str | None:
        value = self._choices.get("announcement")
        return str(value) if value else None

    @property
    def sharing(self) -> bool:
        """Whether people may publish read-only links to their conversations."""
        return bool(self._choices.get("sharing", True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "registration": self.registration.value,
            "default_model": self.default_model,
            "announcement": self.announcement,
            "sharing": self.sharing,
        }

    async def update(self, changes: dict[str, Any]) -> None:
        choices = {**self._choices, **{k: v for k, v in changes.items() if k in FIELDS}}

        async def save(s: AsyncSession) -> None:
            await repo.put_instance_setting(s, KEY, choices)

        await self._db.write(save)
        self._choices = choices
