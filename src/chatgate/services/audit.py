"""The audit log: administrators' security-relevant actions, above all reading someone's chats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import AuditEntry
from chatgate.db.repos import audit as repo


@dataclass(frozen=True, slots=True)
class AuditEntryInfo:
    """One entry of the log as administrators read it."""

    id: str
    action: str
    target_user_id: str | None
    detail: str
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryInfo:
        return cls(entry.id, entry.action, entry.target_user_id, entry.detail, entry.created_at)


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

    async def recent(self, limit: int = 200) -> Sequence[tuple[AuditEntryInfo, str | None]]:
        """The newest entries first, each with its actor's username (None when there was no
        actor, or the account is gone)."""

        def read(s: DbSession) -> list[tuple[AuditEntryInfo, str | None]]:
            return [(AuditEntryInfo.of(entry), actor) for entry, actor in repo.list_audit(s, limit)]

        return await self._db.read(read)
