"""What the usage ledger tells: a person's own limits and use, and the administrator's totals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatgate.db.engine import Database
from chatgate.db.repos import usage as repo
from chatgate.ids import utcnow
from chatgate.services.quotas import Quotas
from chatgate.services.users import UserInfo


class UsageReports:
    def __init__(self, db: Database, quotas: Quotas) -> None:
        self._db = db
        self._quotas = quotas

    async def of_user(self, user: UserInfo) -> dict[str, Any]:
        """Limits, what is used, what is left and when each resets."""
        now = utcnow()
        quota = self._quotas.effective(user.role, user.quota)
        used = await self._db.read(lambda s: self._quotas.usage(s, user.id, now))
        return self._quotas.report(quota, used, now)

    async def summary(
        self, *, since_day: str, until_day: str, group: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Totals between two UTC days (inclusive), grouped by any of day, user, model."""
        return await self._db.read(
            lambda s: repo.summary(s, since_day=since_day, until_day=until_day, group=group)
        )
