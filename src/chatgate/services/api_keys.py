"""Personal API keys for people's own tools (`Authorization: Bearer cg-…`): shown once, stored as
an HMAC, revocable; a key acts as its owner, under the owner's quotas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import ApiKey
from chatgate.db.repos import api_keys as repo
from chatgate.errors import NotFound, ValidationFailed
from chatgate.ids import utcnow
from chatgate.security.secrets import TokenHasher, new_token
from chatgate.services.auth import Principal
from chatgate.services.users import UserInfo

PREFIX = "cg-"
MAX_KEYS = 20
TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as its owner sees it: never its hash (the whole key is shown once, at creation)."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyInfo:
        return cls(key.id, key.name, key.prefix, key.created_at, key.last_used_at, key.revoked_at)


class ApiKeys:
    def __init__(self, db: Database, hasher: TokenHasher) -> None:
        self._db = db
        self._hasher = hasher

    def _hash(self, key: str) -> str:
        return self._hasher.hash(key, purpose="api-key")

    async def create(self, user_id: str, name: str) -> tuple[ApiKeyInfo, str]:
        """The new key, and the whole key (shown once: only its hash is kept)."""
        raw = PREFIX + new_token(30)

        def create(s: DbSession) -> ApiKeyInfo:
            existing = [k for k in repo.list_api_keys(s, user_id) if k.revoked_at is None]
            if len(existing) >= MAX_KEYS:
                raise ValidationFailed(f"You can have at most {MAX_KEYS} keys; revoke one first.")
            key = ApiKey(
                user_id=user_id,
                name=name.strip() or "API key",
                prefix=raw[:8],
                key_hash=self._hash(raw),
            )
            return ApiKeyInfo.of(repo.add_api_key(s, key))

        return await self._db.write(create), raw

    async def list(self, user_id: str) -> Sequence[ApiKeyInfo]:
        return await self._db.read(
            lambda s: [ApiKeyInfo.of(k) for k in repo.list_api_keys(s, user_id)]
        )

    async def revoke(self, user_id: str, key_id: str) -> None:
        def revoke(s: DbSession) -> None:
            if not repo.revoke_api_key(s, user_id, key_id, utcnow()):
                raise NotFound("No such key.")

        await self._db.write(revoke)

    async def resolve(self, raw: str) -> Principal | None:
        if not raw.startswith(PREFIX):
            return None
        found = await self._db.read(lambda s: repo.get_api_key(s, self._hash(raw)))
        if found is None:
            return None
        if found.revoked_at is not None or found.status != "active":
            return None
        now = utcnow()
        if found.last_used_at is None or now - found.last_used_at > TOUCH_INTERVAL:
            key_id = found.key_id

            def touch(s: DbSession) -> None:
                repo.touch_api_key(s, key_id, now)

            await self._db.write(touch)
        return Principal(UserInfo.of(found), None)
