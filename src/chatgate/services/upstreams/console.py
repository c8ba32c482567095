"""Admin → Upstreams: add, change and remove the console's providers, credentials and model
settings. Every change is validated, stored with its secrets sealed, written to the audit log
without them, raises the revision (so every instance applies it) and is applied here at once."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy.orm import Session as DbSession

from chatgate.config import ProviderKind
from chatgate.db.engine import Database
from chatgate.db.models import UpstreamCredential, UpstreamModel, UpstreamProvider
from chatgate.db.repos import upstreams as repo
from chatgate.errors import Conflict, NotFound, ValidationFailed
from chatgate.providers.registry import Registry
from chatgate.security.secret_box import SecretBox
from chatgate.services.audit import Audit
from chatgate.services.site_settings import SiteSettings
from chatgate.services.upstreams import catalog
from chatgate.services.upstreams.catalog import key_hint
from chatgate.services.upstreams.forms import (
    PROVIDER_NAME_PATTERN,
    check_base_url,
    check_kind,
    check_proxy,
    same_origin,
)
from chatgate.services.upstreams.live import LiveUpstreams

T = TypeVar("T")
FROM_FILE = "This provider comes from the configuration file; change it there."
CREDENTIAL_FIELDS = ("concurrency", "requests_per_minute", "tokens_per_minute", "enabled")
# The settings the console keeps per model: every column but the key and the timestamps.
MODEL_FIELDS = tuple(
    c.name
    for c in UpstreamModel.__table__.columns
    if c.name not in ("provider", "model_id") and not c.name.endswith("_at")
)
SECRET_COLUMNS = {"key_sealed": "key", "proxy_sealed": "proxy", "key_hint": ""}


def _said(values: dict[str, Any]) -> str:
    """What changed, for the audit log: a secret by the word "key" or "proxy", never its value."""
    said = (SECRET_COLUMNS.get(k, f"{k}={v}") for k, v in values.items())
    return ", ".join(part for part in said if part)


class UpstreamConsole:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        live: LiveUpstreams,
        registry: Registry,
        site_settings: SiteSettings,
        audit: Audit,
    ) -> None:
        self._db = db
        self._box = box
        self._live = live
        self._registry = registry
        self._site_settings = site_settings
        self._audit = audit

    # -- providers ----------------------------------------------------------------------------
    async def create_provider(self, actor: str, form: dict[str, Any]) -> str:
        kind = check_kind(form["kind"])
        name = self._check_name(form["name"])
        base_url = check_base_url(kind, form.get("base_url"))
        proxy = check_proxy(form.get("proxy"))
        key = (form.get("api_key") or "").strip() or None
        models = [m for m in form.get("models") or [] if m]
        self._check_models_free(name, models)

        def save(s: DbSession) -> str:
            if repo.provider_named(s, name) is not None:
                raise Conflict(f"A provider named {name!r} exists already.")
            row = repo.add_provider(
                s,
                UpstreamProvider(
                    name=name,
                    kind=kind.value,
                    base_url=base_url,
                    api_version=form.get("api_version") or None,
                    proxy_sealed=self._seal(proxy),
                ),
            )
            if key is not None or kind is ProviderKind.openai:  # keyless local servers too
                repo.add_credential(s, self._credential(row.id, "default", key, form))
            for model_id in models:
                repo.put_model(s, name, model_id, enabled=True)
            repo.bump(s)
            return row.id

        provider_id = await self._db.write(save)
        await self._audit.record(
            actor,
            "upstream.provider.create",
            detail=f"{name} ({kind.value}) {base_url or 'default address'}"
            + (f"; models {', '.join(models)}" if models else ""),
        )
        await self._applied(enabled=models)
        return provider_id

    async def update_provider(self, actor: str, provider_id: str, changes: dict[str, Any]) -> None:
        row = await self._provider(provider_id)
        values: dict[str, Any] = {}
        if "name" in changes and changes["name"] != row.name:
            values["name"] = self._check_name(changes["name"])
        if "base_url" in changes:
            values["base_url"] = check_base_url(ProviderKind(row.kind), changes["base_url"])
            if not same_origin(values["base_url"], row.base_url):
                await self._refuse_if_keys_would_move(row)
        if "api_version" in changes:
            values["api_version"] = changes["api_version"] or None
        if "proxy" in changes:
            values["proxy_sealed"] = self._seal(check_proxy(changes["proxy"]))
        if changes.get("enabled") is not None:
            values["enabled"] = bool(changes["enabled"])

        def save(s: DbSession) -> None:
            current = self._found(repo.get_provider(s, provider_id))
            if "name" in values and repo.provider_named(s, values["name"]) is not None:
                raise Conflict(f"A provider named {values['name']!r} exists already.")
            repo.update_provider(s, current, **values)
            repo.bump(s)

        await self._db.write(save)
        await self._audit.record(
            actor, "upstream.provider.update", detail=f"{row.name}: {_said(values)}"
        )
        await self._applied()

    async def delete_provider(self, actor: str, provider_id: str) -> None:
        row = await self._provider(provider_id)

        def save(s: DbSession) -> None:
            repo.delete_provider(s, self._found(repo.get_provider(s, provider_id)))
            repo.bump(s)

        await self._db.write(save)
        await self._audit.record(actor, "upstream.provider.delete", detail=row.name)
        await self._applied()

    # -- credentials --------------------------------------------------------------------------
    async def add_credential(self, actor: str, provider_id: str, form: dict[str, Any]) -> str:
        row = await self._provider(provider_id)
        key = (form.get("api_key") or "").strip() or None
        check_proxy(form.get("proxy"))

        def save(s: DbSession) -> str:
            taken = {c.name for c in repo.credentials_of(s, provider_id)}
            name = form.get("name") or next(
                f"key-{n}" for n in range(1, 10_000) if f"key-{n}" not in taken
            )
            if name in taken:
                raise Conflict(f"This provider has a credential named {name!r} already.")
            credential = repo.add_credential(s, self._credential(provider_id, name, key, form))
            repo.bump(s)
            return credential.id

        credential_id = await self._db.write(save)
        await self._audit.record(
            actor,
            "upstream.credential.create",
            detail=f"{row.name}/{form.get('name') or credential_id}",
        )
        await self._applied()
        return credential_id

    async def update_credential(
        self, actor: str, provider_id: str, credential_id: str, changes: dict[str, Any]
    ) -> None:
        row = await self._provider(provider_id)
        values = {
            k: changes[k] for k in CREDENTIAL_FIELDS if k in changes and changes[k] is not None
        }
        if changes.get("name"):
            values["name"] = changes["name"]
        if "api_key" in changes and changes["api_key"] is not None:
            key = changes["api_key"].strip() or None
            values.update(key_sealed=self._seal(key), key_hint=key_hint(key) if key else None)
        if "proxy" in changes and changes["proxy"] is not None:
            values["proxy_sealed"] = self._seal(check_proxy(changes["proxy"]))

        def save(s: DbSession) -> str:
            credential = self._found(repo.get_credential(s, provider_id, credential_id))
            renamed = "name" in values and values["name"] != credential.name
            if renamed and any(
                c.name == values["name"] for c in repo.credentials_of(s, provider_id)
            ):
                raise Conflict(f"This provider has a credential named {values['name']!r} already.")
            repo.update_credential(s, credential, **values)
            repo.bump(s)
            return credential.name

        name = await self._db.write(save)
        await self._audit.record(
            actor, "upstream.credential.update", detail=f"{row.name}/{name}: {_said(values)}"
        )
        await self._applied()

    async def delete_credential(self, actor: str, provider_id: str, credential_id: str) -> None:
        row = await self._provider(provider_id)

        def save(s: DbSession) -> str:
            credential = self._found(repo.get_credential(s, provider_id, credential_id))
            repo.delete_credential(s, credential)
            repo.bump(s)
            return credential.name

        name = await self._db.write(save)
        await self._audit.record(actor, "upstream.credential.delete", detail=f"{row.name}/{name}")
        await self._applied()

    # -- model settings -----------------------------------------------------------------------
    async def put_model(
        self, actor: str, provider: str, model_id: str, form: dict[str, Any]
    ) -> None:
        if not 1 <= len(model_id) <= 200:
            raise ValidationFailed("A model id is 1 to 200 characters.")
        if not self._live.is_file_provider(provider):
            await self._db.read(lambda s: self._found(repo.provider_named(s, provider)))
        if form.get("enabled"):
            self._check_models_free(provider, [model_id])
        values = {k: form.get(k) for k in MODEL_FIELDS}
        values["vision"], values["reasoning"] = bool(values["vision"]), bool(values["reasoning"])

        def save(s: DbSession) -> None:
            repo.put_model(s, provider, model_id, **values)
            repo.bump(s)

        await self._db.write(save)
        said = ", ".join(f"{k}={v}" for k, v in values.items() if v not in (None, False))
        await self._audit.record(
            actor, "upstream.model.update", detail=f"{provider}/{model_id}: {said}"
        )
        await self._applied(enabled=[model_id] if form.get("enabled") else [])

    # -- helpers ------------------------------------------------------------------------------
    def _seal(self, value: str | None) -> str | None:
        return self._box.seal(value) if value else None

    def _credential(
        self, provider_id: str, name: str, key: str | None, form: dict[str, Any]
    ) -> UpstreamCredential:
        return UpstreamCredential(
            provider_id=provider_id,
            name=name,
            key_sealed=self._seal(key),
            key_hint=key_hint(key) if key else None,
            proxy_sealed=self._seal(check_proxy(form.get("proxy"))),
            concurrency=form.get("concurrency"),
            requests_per_minute=form.get("requests_per_minute"),
            tokens_per_minute=form.get("tokens_per_minute"),
        )

    def _check_name(self, name: str) -> str:
        if not re.fullmatch(PROVIDER_NAME_PATTERN, name):
            raise ValidationFailed(
                "The name must be 1 to 64 letters, digits, dots, dashes or underscores, "
                "starting with a letter or digit."
            )
        if self._live.is_file_provider(name):
            raise Conflict(f"The configuration file has a provider named {name!r} already.")
        return name

    def _check_models_free(self, provider: str, models: list[str]) -> None:
        for model_id in models:
            route = next((r for r in self._registry.models() if r.model.id == model_id), None)
            if route is not None and route.provider.name != provider:
                raise Conflict(
                    f"The model id {model_id!r} is offered by {route.provider.name!r} already."
                )

    async def _refuse_if_keys_would_move(self, row: UpstreamProvider) -> None:
        credentials = await self._db.read(lambda s: repo.credentials_of(s, row.id))
        if any(c.key_sealed for c in credentials):
            raise Conflict(
                "This provider's keys were saved for its current address and are only ever sent "
                "there. To use another host, add a new provider (or remove the keys first)."
            )

    async def _provider(self, provider_id: str) -> UpstreamProvider:
        if self._live.is_file_provider(provider_id):
            raise Conflict(FROM_FILE)
        return await self._db.read(lambda s: self._found(repo.get_provider(s, provider_id)))

    @staticmethod
    def _found(value: T | None) -> T:
        if value is None:
            raise NotFound("No such provider, credential or model.")
        return value

    async def _applied(self, enabled: list[str] | None = None) -> None:
        """Apply at once here, then keep the default model pointing at something offered."""
        await self._live.reload()
        console = [
            r.model.id
            for r in self._registry.models()
            if self._live.live(r.provider.name) and r.model.id in (enabled or [])
        ]
        effective = self._site_settings.default_model or self._registry.default_model
        wanted = catalog.settled_default(self._registry, effective, console)
        if wanted != effective:
            await self._site_settings.update({"default_model": wanted})
            await self._db.write(repo.bump)  # other instances reload the choice with the change
            await self._live.reload()
