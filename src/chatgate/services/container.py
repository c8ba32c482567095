"""Every service, built once at startup and shared by the API layer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.repos import conversations as conversations_repo
from chatgate.db.repos import usage as usage_repo
from chatgate.ids import utcnow
from chatgate.providers.registry import Registry, build_providers
from chatgate.security.secrets import TokenHasher, load_or_create_secret
from chatgate.services import tokens
from chatgate.services.api_keys import ApiKeys
from chatgate.services.audit import Audit
from chatgate.services.auth import Auth
from chatgate.services.chat import Chat
from chatgate.services.conversations import Conversations
from chatgate.services.generations import Generations
from chatgate.services.instance import Instance
from chatgate.services.quotas import Quotas
from chatgate.services.ratelimit import RateLimits
from chatgate.services.scheduler import Scheduler
from chatgate.services.shares import Shares
from chatgate.services.transfer import Transfer
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
    quotas: Quotas
    chat: Chat
    api_keys: ApiKeys
    instance: Instance
    audit: Audit
    transfer: Transfer
    shares: Shares
    _warm_up: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        # Providers first: a configuration error stops the startup before anything is opened.
        registry = Registry(build_providers(settings), settings.default_model)
        db = Database(settings.resolved_database_url)
        await db.start()
        hasher = TokenHasher(load_or_create_secret(settings.data_dir))
        limits = RateLimits()
        instance = Instance(db, settings)
        await instance.load()
        users = Users(db, settings, hasher, instance)
        scheduler = Scheduler()
        for provider in registry.providers:
            scheduler.add_pool(provider.name, provider.credentials)
        quotas = Quotas(settings)
        generations = Generations(db, settings, scheduler, quotas)
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
            generations=generations,
            quotas=quotas,
            chat=Chat(db, registry, generations, instance),
            api_keys=ApiKeys(db, hasher),
            instance=instance,
            audit=Audit(db),
            transfer=Transfer(db),
            shares=Shares(db, hasher, instance),
        )
        await services.auth.startup()
        await services.recover_interrupted()
        await services.generations.start_service()
        # The tokenizer loads in the background; the first request does not wait for it.
        services._warm_up = asyncio.create_task(tokens.warm_up())
        return services

    async def recover_interrupted(self) -> int:
        """Answers a crash left `queued`/`streaming` become `interrupted`, keeping their text."""

        async def recover(s: AsyncSession) -> int:
            now = utcnow()
            await usage_repo.interrupt_live_usage(s, now)
            return await conversations_repo.interrupt_live_messages(s, now)

        return await self.db.write(recover)

    async def close(self, grace: float = 0.0) -> None:
        await self.generations.shutdown(grace)
        await self.registry.aclose()
        await self.db.close()
