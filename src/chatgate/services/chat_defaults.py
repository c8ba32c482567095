"""New-chat defaults per account: the settings a new conversation starts with (model, system
prompt, temperature, …), kept on the server so every device of the person uses the same."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.repos import chat_defaults as repo
from chatgate.ids import utcnow
from chatgate.services.conversations import ConversationSettings


class ChatDefaults:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> ConversationSettings:
        stored = await self._db.read(lambda s: repo.get_chat_defaults(s, user_id))
        return ConversationSettings.of(stored)

    async def put(self, user_id: str, settings: dict[str, Any]) -> ConversationSettings:
        """Replace them: a field left out (or null) is the server's default."""
        value = ConversationSettings.of(settings)
        now = utcnow()

        def save(s: DbSession) -> None:
            repo.put_chat_defaults(s, user_id, value.as_dict(), now)

        await self._db.write(save)
        return value

    async def for_new_conversation(
        self, user_id: str, chosen: dict[str, Any] | None
    ) -> dict[str, Any]:
        """What a new conversation gets: the person's defaults, then what the request chose."""
        return (await self.get(user_id)).merged(chosen or {}).as_dict()
