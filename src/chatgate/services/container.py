"""Every service, built once at startup and shared by the API layer."""

from __future__ import annotations

from dataclasses import dataclass

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.repos import conversations as conversations_repo
from chatgate.ids import utcnow
from chatgate.security.secrets import TokenHasher, load_or_create_secret
from chatgate.services.auth import Auth
from chatgate.services.conversations import Conversations
from chatgate.services.ratelimit import RateLimits
from chatgate.services.users import Users


@dataclass
class Services:
    settings: Settings
    db: Database
    hasher: TokenHasher
    limits: RateLimits
    users: Users
    auth: Auth
    conversations: Conversations

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = Database(settings.resolved_database_url)
        await db.start()
        hasher = TokenHasher(load_or_create_secret(settings.data_dir))
        limits = RateLimits()
        users = Users(db, settings, hasher)
        services = cls(
            settings=settings,
            db=db,
            hasher=hasher,
            limits=limits,
            users=users,
            auth=Auth(db, settings, hasher, users, limits),
            conversations=Conversations(db),
        )
        await services.auth.startup()
        await services.recover_interrupted()
        return services

    async def recover_interrupted(self) -> int:
        """Answers a crash left `queued`/`streaming` become `interrupted`, keeping their text."""
        return await self.db.write(
            lambda s: conversations_repo.interrupt_live_messages(s, utcnow())
        )

    async def close(self) -> None:
        await self.db.close()
