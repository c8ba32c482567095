"""Choices the administrator makes at run time (registration policy, default model, the
announcement banner). Kept in the database; they override the configuration file's values."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Registration, Settings, SettingsError
from chatgate.db.engine import Database
from chatgate.db.repos import site_settings as repo
from chatgate.security.secrets import SECRET_FILE, load_or_create_secret

log = structlog.get_logger(__name__)
KEY = "admin_choices"
FIELDS = ("registration", "default_model", "announcement", "sharing")


class SiteSettings:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._choices: dict[str, Any] = {}

    async def load(self) -> None:
        self._choices = await self._db.read(lambda s: repo.get_instance_setting(s, KEY) or {})

    async def follow(self, interval: float = 5.0) -> None:
        """With several instances, pick up the choices another instance's administrator made."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.load()
            except Exception as exc:  # noqa: BLE001 - keep the last known choices
                log.warning("reloading instance settings failed", error=str(exc))

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

        def save(s: DbSession) -> None:
            repo.put_instance_setting(s, KEY, choices)

        await self._db.write(save)
        self._choices = choices


SECRET_KEY = "instance_secret"


async def instance_secret(settings: Settings, db: Database) -> bytes:
    """The key of every stored token hash. Configured, or generated once: into the data directory
    for a single instance, into the shared database when several instances must agree on it."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value().strip()
        try:
            key = bytes.fromhex(value)
        except ValueError:
            key = b""
        if len(key) < 32:
            raise SettingsError(
                "secret_key must be at least 64 hexadecimal digits (openssl rand -hex 32)."
            )
        return key
    if not settings.redis_url:
        return load_or_create_secret(settings.data_dir)
    # A single instance that now gets company keeps its secret (and so everyone's sessions, API
    # keys and links) when its data directory has one; otherwise the first instance picks one.
    candidate = (
        load_or_create_secret(settings.data_dir).hex()
        if (settings.data_dir / SECRET_FILE).exists()
        else secrets.token_hex(32)
    )

    def shared(s: DbSession) -> str:
        return str(repo.claim_instance_setting(s, SECRET_KEY, {"hex": candidate})["hex"])

    return bytes.fromhex(await db.write(shared))
