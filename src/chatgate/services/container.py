"""Every service, built once at startup and shared by the API layer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.repos import conversations as conversations_repo
from chatgate.ids import utcnow
from chatgate.providers.registry import Registry, build_provider
from chatgate.security.secrets import TokenHasher, load_or_create_secret
from chatgate.services import tokens
from chatgate.services.auth import Auth
from chatgate.services.conversations import Conversations
from chatgate.services.generations import Generations
from chatgate.services.ratelimit import RateLimits
from chatgate.services.scheduler import Scheduler
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
    registry: Registry
    scheduler: Scheduler
    generations: Generations
    _warm_up: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = Database(settings.resolved_database_url)
        await db.start()
        hasher = TokenHasher(load_or_create_secret(settings.data_dir))
        limits = RateLimits()
        users = Users(db, settings, hasher)
        registry = Registry(
            [build_provider(p, settings) for p in settings.providers], settings.default_model
        )
        scheduler = Scheduler()
        for provider in registry.providers:
            scheduler.add_pool(provider.name, provider.credentials)
        services = cls(
            settings=settings,
            db=db,
            hasher=hasher,
            limits=limits,
            users=users,
            auth=Auth(db, settings, hasher, users, limits),
            conversations=Conversations(db),
            registry=registry,
            scheduler=scheduler,
            generations=Generations(db, settings, registry, scheduler),
        )
        await services.auth.startup()
        await services.recover_interrupted()
        await services.generations.start()
        # The tokenizer loads in the background; the first request does not wait for it.
        services._warm_up = asyncio.create_task(tokens.warm_up())
        return services

    async def recover_interrupted(self) -> int:
        """Answers a crash left `queued`/`streaming` become `interrupted`, keeping their text."""
        return await self.db.write(
            lambda s: conversations_repo.interrupt_live_messages(s, utcnow())
        )

    async def close(self, grace: float = 0.0) -> None:
        await self.generations.shutdown(grace)
        await self.registry.aclose()
        await self.db.close()
