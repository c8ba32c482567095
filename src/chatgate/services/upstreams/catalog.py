"""What the admin console stored, as provider configurations and model routes (no I/O).

The console's providers become `ProviderConfig`s like the file's, so the one `build_provider`
builds both. Model settings (by provider name and model id) overlay any provider's models:
a disabled model gets no route; a display name, prices, context window, vision, reasoning and
the allowed roles or users ride on the route. A fingerprint of everything a provider object is
built from tells when an object can be kept as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson
from pydantic import SecretStr

from chatgate.config import CredentialConfig, ModelConfig, ProviderConfig, ProviderKind, Settings
from chatgate.db.models import UpstreamCredential, UpstreamModel, UpstreamProvider
from chatgate.db.repos.upstreams import Snapshot
from chatgate.errors import SecretUnreadable
from chatgate.providers.base import Provider
from chatgate.providers.registry import ModelRoute, Registry, sees
from chatgate.security.redaction import register_secret
from chatgate.security.secret_box import SecretBox

Overlays = Mapping[tuple[str, str], UpstreamModel]


@dataclass
class ConsoleProvider:
    """One console provider as it can run now: `config` is None while it cannot (disabled, or
    no enabled credential that can be decrypted)."""

    row: UpstreamProvider
    credentials: list[UpstreamCredential]
    config: ProviderConfig | None
    unreadable: dict[str, str] = field(default_factory=dict)  # credential id → why


def key_hint(key: str) -> str:
    """What the console shows of a saved key: enough to tell two apart, never enough to use."""
    return f"…{key[-2:]}" if len(key) < 12 else f"{key[:3]}…{key[-4:]}"


def _open(box: SecretBox, sealed: str | None) -> str | None:
    if sealed is None:
        return None
    value = box.open(sealed)
    register_secret(value)  # before any use: upstream error texts quoting it are masked
    return value


def console_providers(snapshot: Snapshot, box: SecretBox) -> list[ConsoleProvider]:
    by_provider: dict[str, list[UpstreamCredential]] = {}
    for credential in snapshot.credentials:
        by_provider.setdefault(credential.provider_id, []).append(credential)
    found: list[ConsoleProvider] = []
    for row in snapshot.providers:
        entry = ConsoleProvider(row, by_provider.get(row.id, []), None)
        try:
            proxy = _open(box, row.proxy_sealed)
        except SecretUnreadable as exc:
            entry.unreadable = {c.id: exc.message for c in entry.credentials}
            found.append(entry)
            continue
        configs: list[CredentialConfig] = []
        for credential in entry.credentials:
            try:
                key = _open(box, credential.key_sealed)
                own_proxy = _open(box, credential.proxy_sealed)
            except SecretUnreadable as exc:
                entry.unreadable[credential.id] = exc.message
                continue
            if credential.enabled:
                configs.append(
                    CredentialConfig(
                        name=credential.name,
                        api_key=SecretStr(key) if key else None,
                        proxy=SecretStr(own_proxy) if own_proxy else None,
                        concurrency=credential.concurrency,
                        requests_per_minute=credential.requests_per_minute,
                        tokens_per_minute=credential.tokens_per_minute,
                    )
                )
        if row.enabled and configs:
            entry.config = ProviderConfig(
                name=row.name,
                kind=ProviderKind(row.kind),
                base_url=row.base_url,
                api_version=row.api_version,
                proxy=SecretStr(proxy) if proxy else None,
                credentials=configs,
            )
        found.append(entry)
    return found


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def credential_fingerprints(config: ProviderConfig, settings: Settings) -> list[str]:
    """One digest per configured credential, in `build_provider`'s order: equal digests mean
    an equal credential object (key, proxy, limits), whose client and state can be kept."""
    digests = []
    for item in config.credentials:
        proxy = item.proxy or config.proxy or settings.proxy
        digests.append(
            _digest(
                [
                    config.name,
                    item.name,
                    _secret(item.api_key),
                    _secret(proxy),
                    str(item.ca_bundle or config.ca_bundle or ""),
                    item.concurrency,
                    item.requests_per_minute,
                    item.tokens_per_minute,
                ]
            )
        )
    return digests


def provider_fingerprint(config: ProviderConfig, settings: Settings) -> str:
    """Everything the provider object is built from, models aside (they are set on it)."""
    return _digest(
        [
            config.kind.value,
            config.base_url,
            config.api_version,
            *credential_fingerprints(config, settings),
        ]
    )


def _digest(parts: list[object]) -> str:
    # Only the digest is kept: the secrets it covers are never held in a second place.
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def _route(provider: Provider, model: ModelConfig, overlay: UpstreamModel | None) -> ModelRoute:
    if overlay is None:
        return ModelRoute(provider, model, vision=sees(provider, model.vision))
    changes = {
        key: getattr(overlay, key)
        for key in ("context_window", "input_price", "output_price")
        if getattr(overlay, key) is not None
    }
    roles, users = overlay.allowed_roles, overlay.allowed_users
    return ModelRoute(
        provider,
        model.model_copy(update=changes) if changes else model,
        display_name=overlay.display_name,
        vision=sees(provider, overlay.vision or model.vision),
        reasoning=overlay.reasoning,
        allowed_roles=frozenset(roles) if roles is not None else None,
        allowed_users=frozenset(u.lower() for u in users) if users is not None else None,
    )


def enabled_extra_models(provider: str, known: Iterable[str], overlays: Overlays) -> list[str]:
    """Models the console enabled for `provider` beyond those it already lists."""
    taken = set(known)
    return [
        model_id
        for (name, model_id), overlay in overlays.items()
        if name == provider and overlay.enabled and model_id not in taken
    ]


def routes(provider: Provider, base: list[ModelConfig], overlays: Overlays) -> list[ModelRoute]:
    """The routes of one provider: its own models (the file's; none for a console provider)
    plus those enabled in the console, without the disabled ones."""
    models = [
        *base,
        *(
            ModelConfig(id=m)
            for m in enabled_extra_models(provider.name, (m.id for m in base), overlays)
        ),
    ]
    found = []
    for model in models:
        overlay = overlays.get((provider.name, model.id))
        if overlay is None or overlay.enabled:
            found.append(_route(provider, model, overlay))
    return found


def settled_default(
    registry: Registry, default: str | None, enabled_console: list[str]
) -> str | None:
    """The default model after a change: the first model just enabled on a console provider
    replaces the offline demo (or no default at all); a default no longer offered falls back to
    the first model offered; otherwise the default stays."""
    if enabled_console and (default is None or registry.is_bundled(default)):
        return enabled_console[0]
    if default not in {route.model.id for route in registry.models()}:
        return registry.default_model
    return default
