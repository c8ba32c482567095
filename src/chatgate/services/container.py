"""Every service, built once at startup and shared by the API layer."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from chatgate.config import Settings
from chatgate.coordination.protocols import Admission, RateLimits
from chatgate.db.engine import Database
from chatgate.providers.registry import Registry, build_providers
from chatgate.security.secret_box import SecretBox
from chatgate.security.secrets import TokenHasher
from chatgate.services import tokens
from chatgate.services.api_keys import ApiKeys
from chatgate.services.attachments import Attachments
from chatgate.services.audit import Audit
from chatgate.services.auth import Auth
from chatgate.services.chat import Chat
from chatgate.services.conversations import Conversations
from chatgate.services.coordination import Coordination
from chatgate.services.generations import Generations
from chatgate.services.memory import IdleMemoryRelease
from chatgate.services.quotas import Quotas
from chatgate.services.rehearsal import rehearse
from chatgate.services.shares import Shares
from chatgate.services.site_settings import SiteSettings, instance_secret
from chatgate.services.sso import SingleSignOn
from chatgate.services.transfer import Transfer
from chatgate.services.upstreams import LiveUpstreams, Probe, UpstreamConsole
from chatgate.services.usage import UsageReports
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
    scheduler: Admission
    generations: Generations
    quotas: Quotas
    usage: UsageReports
    chat: Chat
    api_keys: ApiKeys
    site_settings: SiteSettings
    audit: Audit
    transfer: Transfer
    shares: Shares
    coordination: Coordination
    upstreams: LiveUpstreams
    upstream_console: UpstreamConsole
    probe: Probe
    sso: SingleSignOn
    attachments: Attachments
    _upstreams: asyncio.Task[None] | None = field(default=None, repr=False)
    _follow: asyncio.Task[None] | None = field(default=None, repr=False)
    _warm: asyncio.Task[None] | None = field(default=None, repr=False)
    _sweep: asyncio.Task[None] | None = field(default=None, repr=False)
    _memory: IdleMemoryRelease | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        # Providers first: a configuration error stops the startup before anything is opened.
        registry = Registry(build_providers(settings), settings.default_model)
        db = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        await db.start()
        link = None
        try:
            coordination = await Coordination.start(settings, db)
            link = coordination.link
            secret = await instance_secret(settings, db)
            hasher = TokenHasher(secret)
            site_settings = SiteSettings(db, settings)
            await site_settings.load()
            users = Users(db, settings, hasher, site_settings)
            for provider in registry.providers:
                coordination.scheduler.add_pool(provider.name, provider.credentials)
            box = SecretBox(secret)
            upstreams = LiveUpstreams(
                db, settings, registry, coordination.scheduler, box, after_reload=site_settings.load
            )
            await upstreams.reload()  # the admin console's providers join the file's
            audit = Audit(db)
            quotas = Quotas(settings)
            generations = Generations(
                db, settings, coordination.scheduler, quotas, streams=coordination.streams
            )
            auth = Auth(db, settings, hasher, users, coordination.limits)
            services = cls(
                settings=settings,
                db=db,
                hasher=hasher,
                limits=coordination.limits,
                users=users,
                auth=auth,
                conversations=Conversations(db),
                registry=registry,
                scheduler=coordination.scheduler,
                generations=generations,
                quotas=quotas,
                usage=UsageReports(db, quotas),
                chat=Chat(db, registry, generations, site_settings),
                api_keys=ApiKeys(db, hasher),
                site_settings=site_settings,
                audit=audit,
                transfer=Transfer(db),
                shares=Shares(db, hasher, site_settings),
                coordination=coordination,
                upstreams=upstreams,
                upstream_console=UpstreamConsole(
                    db, box, upstreams, registry, site_settings, audit
                ),
                probe=Probe(settings, db, box, upstreams),
                sso=SingleSignOn(db, settings, hasher, auth, audit),
                attachments=Attachments(db, settings),
            )
            await services.auth.startup()
            await services.generations.recover()
            await coordination.run()
            if settings.redis_url:
                services._follow = asyncio.create_task(site_settings.follow(), name="site-settings")
            # Every instance polls the console's revision (one primary-key read a second).
            services._upstreams = asyncio.create_task(upstreams.follow(), name="upstreams-follow")
            await services.generations.start_service()
            await rehearse(db)  # the first question costs what the tenth does
            # Uploads never sent with a question go after a day (an hourly sweep).
            services._sweep = asyncio.create_task(
                services.attachments.sweep_forever(), name="attachments-sweep"
            )
            if quotas.count_tokens:
                # Admissions count tokens in the writer's thread: the tokenizer's table (~0.4 s)
                # loads now, not under the first question. Otherwise it loads when first needed.
                services._warm = asyncio.create_task(tokens.ready(), name="tokenizer-warm-up")
            # Once the last answer's replay window has passed: what it held is garbage by then.
            services._memory = IdleMemoryRelease(lambda: generations.held)
            services._memory.start()
        except BaseException:
            if link is not None:
                await link.close()
            await db.close()
            raise
        return services

    async def close(self, grace: float = 0.0) -> None:
        if self._memory is not None:
            await self._memory.stop()
        for task in (self._follow, self._warm, self._upstreams, self._sweep):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.generations.shutdown(grace)
        await self.coordination.close()
        await self.upstreams.close()
        await self.registry.aclose()
        await self.db.close()
