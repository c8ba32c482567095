"""Applies the console's upstreams to the running instance, without a restart.

The configuration file's providers (or the bundled local model) are built once at startup and
never change; the console's are rebuilt from the database whenever its revision number moves —
at once on the instance that made the change, within `POLL_SECONDS` on every other one.

A rebuild disturbs nothing that still holds: a provider whose configuration did not change keeps
its object (clients, credentials and their state); a credential that did not change keeps its
object inside a rebuilt provider; the scheduler's pools are swapped in place (waiting requests
keep their place). A credential that went away is closed only once nothing streams through it,
so answers under way finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from chatgate.config import ModelConfig, Settings
from chatgate.coordination.protocols import Admission
from chatgate.db.engine import Database
from chatgate.db.repos import upstreams as repo
from chatgate.db.repos.upstreams import Snapshot
from chatgate.providers.base import Credential, Provider
from chatgate.providers.registry import ModelRoute, Registry, build_provider
from chatgate.security.secret_box import SecretBox
from chatgate.services.upstreams import catalog
from chatgate.services.upstreams.catalog import ConsoleProvider

log = structlog.get_logger(__name__)
POLL_SECONDS = 1.0
CLOSE_CHECK_SECONDS = 0.5


@dataclass
class _Built:
    fingerprint: str
    provider: Provider
    credentials: dict[str, Credential] = field(default_factory=dict)  # fingerprint → object


class Retirement:
    """Credentials no longer offered, closed once their last answer has finished."""

    def __init__(self) -> None:
        self._waiting: list[Credential] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, credentials: list[Credential]) -> None:
        self._waiting += credentials
        if self._waiting and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="retire-credentials")

    async def _run(self) -> None:
        while self._waiting:
            idle = [c for c in self._waiting if c.state.in_flight <= 0]
            self._waiting = [c for c in self._waiting if c.state.in_flight > 0]
            for credential in idle:
                await _close(credential)
            if self._waiting:
                await asyncio.sleep(CLOSE_CHECK_SECONDS)

    async def close(self) -> None:
        """At shutdown: whatever still streams has been stopped by then."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        waiting, self._waiting = self._waiting, []
        for credential in waiting:
            await _close(credential)


async def _close(credential: Credential) -> None:
    try:
        if credential.client is not None:
            await credential.client.aclose()
    except Exception as exc:  # noqa: BLE001 - a connection that fails to close is gone anyway
        log.warning("closing a retired credential failed", credential=credential.id, error=str(exc))


class LiveUpstreams:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        registry: Registry,
        scheduler: Admission,
        box: SecretBox,
        after_reload: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._after_reload = after_reload
        self._db = db
        self._settings = settings
        self._registry = registry
        self._scheduler = scheduler
        self._box = box
        # The file's providers (or the bundled model) as built at startup, with their own models.
        self.file_providers: list[Provider] = list(registry.providers)
        self._file_models = {p.name: list(p.models) for p in self.file_providers}
        self._built: dict[str, _Built] = {}
        self._retirement = Retirement()
        self._lock = asyncio.Lock()
        self.version = -1
        self.console: list[ConsoleProvider] = []
        self.model_settings: catalog.Overlays = {}

    def file_models(self, provider: str) -> list[ModelConfig]:
        return self._file_models.get(provider, [])

    def is_file_provider(self, name: str) -> bool:
        return name in self._file_models

    def live(self, name: str) -> Provider | None:
        built = self._built.get(name)
        return built.provider if built is not None else None

    async def reload(self) -> None:
        """Read what the console stored and apply it (serialised: the newest read wins)."""
        async with self._lock:
            snapshot = await self._db.read(repo.snapshot)
            await self._apply(snapshot)

    async def follow(self) -> None:
        """Every instance: apply what another instance's administrator changed."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                if await self._db.read(repo.version) != self.version:
                    await self.reload()
            except Exception as exc:  # noqa: BLE001 - keep serving what is applied
                log.warning("reloading the console's upstreams failed", error=str(exc))

    async def _apply(self, snapshot: Snapshot) -> None:
        console = catalog.console_providers(snapshot, self._box)
        overlays = {(m.provider, m.model_id): m for m in snapshot.models}
        built: dict[str, _Built] = {}
        retired: list[Credential] = []
        changed: list[Credential] = []
        known = {c.id for b in self._built.values() for c in b.provider.credentials}
        for entry in console:
            config = entry.config
            if config is None:
                continue
            if self.is_file_provider(config.name):
                log.warning(
                    "a console provider has a configuration file provider's name: skipped",
                    provider=config.name,
                )
                continue
            old = self._built.get(config.name)
            fingerprint = catalog.provider_fingerprint(config, self._settings)
            if old is not None and old.fingerprint == fingerprint:
                built[config.name] = old
                continue
            try:
                fresh = build_provider(config, self._settings)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                log.warning(
                    "a console provider cannot be built", provider=config.name, error=str(exc)
                )
                entry.unreadable.update({c.id: str(exc) for c in entry.credentials})
                if old is not None:
                    built[config.name] = old  # keep serving what worked
                continue
            keep = old.credentials if old is not None else {}
            digests = catalog.credential_fingerprints(config, self._settings)
            credentials: list[Credential] = []
            for digest, credential in zip(digests, fresh.credentials, strict=True):
                kept = keep.get(digest)
                if kept is not None:
                    retired.append(credential)  # the unused twin: its client never opened
                    credentials.append(kept)
                else:
                    if credential.id in known:
                        changed.append(credential)
                    credentials.append(credential)
            fresh.credentials = credentials
            built[config.name] = _Built(
                fingerprint, fresh, dict(zip(digests, credentials, strict=True))
            )
        for name, old in self._built.items():
            still = {id(c) for c in built[name].provider.credentials} if name in built else set()
            retired += [c for c in old.provider.credentials if id(c) not in still]

        routes: list[ModelRoute] = []
        for provider in self.file_providers:
            routes += catalog.routes(provider, self._file_models[provider.name], overlays)
        for item in built.values():
            own = catalog.routes(item.provider, [], overlays)
            item.provider.models = [route.model for route in own]
            routes += own
        # One synchronous step: no request sees half of the change.
        self._registry.replace(
            [*self.file_providers, *(b.provider for b in built.values())], routes
        )
        for name, item in built.items():
            self._scheduler.add_pool(name, item.provider.credentials)
        for name in self._built.keys() - built.keys():
            self._scheduler.remove_pool(name)
        self._built, self.console, self.version = built, console, snapshot.version
        self.model_settings = overlays
        self._retirement.add(retired)
        for credential in changed:
            # A new key or new limits under a known name: whatever the old key earned (a rest
            # after a refusal) must not hold the new one back.
            await self._scheduler.try_now(credential.provider, credential.name)
        if self._after_reload is not None:
            await self._after_reload()

    async def close(self) -> None:
        await self._retirement.close()
        # The live console providers close with the registry (they are among its providers).
