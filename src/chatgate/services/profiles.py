"""A person's profile: display name, description, and an avatar that is an emoji or an image
(re-encoded by `avatars`). Shown beside their own messages and on conversations they share;
a share shows the profile as it is now, and nothing of it when the person has set nothing."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.repos import profiles as repo
from chatgate.errors import NotFound, ValidationFailed
from chatgate.ids import utcnow
from chatgate.services import avatars

NAME_MAX = 64
DESCRIPTION_MAX = 500
EMOJI_MAX = 16  # code points: a family or a flag with modifiers is still one emoji


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    display_name: str = ""
    description: str = ""
    avatar_emoji: str | None = None
    has_image: bool = False
    updated_at: datetime | None = None

    @property
    def version(self) -> str:
        """Changes whenever the profile does: a cache-busting part of the avatar's URL."""
        return str(int(self.updated_at.timestamp() * 1000)) if self.updated_at else "0"

    @property
    def is_empty(self) -> bool:
        return not (self.display_name or self.avatar_emoji or self.has_image)


def clean_name(value: str) -> str:
    name = " ".join(value.split())  # one line, single spaces
    if any(unicodedata.category(c) in ("Cc", "Cf") and c != "\u200d" for c in name):
        raise ValidationFailed("A display name cannot contain control characters.")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"A display name has at most {NAME_MAX} characters.")
    return name


def clean_description(value: str) -> str:
    text = value.replace("\r\n", "\n").strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValidationFailed("A description cannot contain control characters.")
    if len(text) > DESCRIPTION_MAX:
        raise ValidationFailed(f"A description has at most {DESCRIPTION_MAX} characters.")
    return text


def clean_emoji(value: str) -> str | None:
    """A short symbol (an emoji, or a letter or two); empty means none."""
    emoji = value.strip()
    if not emoji:
        return None
    if len(emoji) > EMOJI_MAX or any(
        unicodedata.category(c)[0] in "CZ"
        and c != "\u200d"
        and not "\U000e0020" <= c <= "\U000e007f"
        for c in emoji  # ZWJ sequences and tag flags are emoji too
    ):
        raise ValidationFailed("The avatar must be one emoji (or a letter or two), without spaces.")
    return emoji


class Profiles:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> ProfileInfo:
        row = await self._db.read(lambda s: repo.get_profile(s, user_id))
        if row is None:
            return ProfileInfo()
        name, description, emoji, image_type, updated_at = row
        return ProfileInfo(name, description, emoji, image_type is not None, updated_at)

    async def update(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        avatar_emoji: str | None = None,
    ) -> ProfileInfo:
        """Fields left as None stay; an emoji replaces an image ("" removes the emoji)."""
        values: dict[str, object] = {}
        if display_name is not None:
            values["display_name"] = clean_name(display_name)
        if description is not None:
            values["description"] = clean_description(description)
        if avatar_emoji is not None:
            emoji = clean_emoji(avatar_emoji)
            values["avatar_emoji"] = emoji
            if emoji is not None:
                values.update(avatar_image=None, avatar_type=None)
        if values:
            await self._save(user_id, values)
        return await self.get(user_id)

    async def set_image(self, user_id: str, data: bytes) -> ProfileInfo:
        """Re-encode the upload (off the event loop) and make it the avatar."""
        image, content_type = await asyncio.to_thread(avatars.reencode, data)
        await self._save(
            user_id, {"avatar_image": image, "avatar_type": content_type, "avatar_emoji": None}
        )
        return await self.get(user_id)

    async def remove_avatar(self, user_id: str) -> ProfileInfo:
        await self._save(user_id, {"avatar_image": None, "avatar_type": None, "avatar_emoji": None})
        return await self.get(user_id)

    async def image(self, user_id: str) -> tuple[bytes, str]:
        found = await self._db.read(lambda s: repo.get_avatar(s, user_id))
        if found is None:
            raise NotFound("There is no avatar image.")
        return found

    async def _save(self, user_id: str, values: dict[str, object]) -> None:
        now = utcnow()

        def save(s: DbSession) -> None:
            repo.put_profile(s, user_id, now, **values)

        await self._db.write(save)
