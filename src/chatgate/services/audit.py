"""The audit log: administrators' security-relevant actions, above all reading someone's chats."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import AuditEntry
from chatgate.db.repos import audit as repo


class Audit:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        actor_id: str | None,
        action: str,
        *,
        target_user_id: str | None = None,
        detail: str = "",
    ) -> None:
        entry = AuditEntry(
            actor_id=actor_id, action=action, target_user_id=target_user_id, detail=detail[:2000]
        )

        def save(s: DbSession) -> None:
            repo.add_audit(s, entry)

        await self._db.write(save)

    async def recent(self, limit: int = 200) -> Sequence[tuple[AuditEntry, str | None]]:
        return await self._db.read(lambda s: repo.list_audit(s, limit))
