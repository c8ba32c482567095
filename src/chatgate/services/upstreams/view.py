"""Admin → Upstreams as the console shows it: every provider, from the file or the console, with
its credentials' health and its models' settings. Secrets are never part of it: a key is
`has_key` and a hint, a proxy is `has_proxy`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chatgate.config import ModelConfig
from chatgate.coordination.protocols import Admission
from chatgate.db.models import UpstreamModel
from chatgate.providers.base import Provider
from chatgate.providers.registry import Registry
from chatgate.services.upstreams import catalog
from chatgate.services.upstreams.catalog import ConsoleProvider
from chatgate.services.upstreams.live import LiveUpstreams


def _model(
    provider: str, model_id: str, base: ModelConfig | None, row: UpstreamModel | None
) -> dict[str, Any]:
    return {
        "provider": provider,
        "id": model_id,
        "display_name": row.display_name if row else None,
        "enabled": row.enabled if row else base is not None,
        "context_window": (row.context_window if row and row.context_window else None)
        or (base.context_window if base else None),
        "vision": bool(row and row.vision),
        "reasoning": bool(row and row.reasoning),
        "input_price": row.input_price
        if row and row.input_price is not None
        else (base.input_price if base else None),
        "output_price": row.output_price
        if row and row.output_price is not None
        else (base.output_price if base else None),
        "allowed_roles": row.allowed_roles if row else None,
        "allowed_users": row.allowed_users if row else None,
    }


def _models(
    provider: str, base: list[ModelConfig], overlays: catalog.Overlays
) -> list[dict[str, Any]]:
    own = {m.id: m for m in base}
    extra = [mid for (name, mid) in overlays if name == provider and mid not in own]
    return [
        _model(provider, mid, own.get(mid), overlays.get((provider, mid))) for mid in [*own, *extra]
    ]


def _without_userinfo(url: str | None) -> str | None:
    """A file's base URL may carry a user and password (a reverse proxy's): never shown."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


async def _status(scheduler: Admission, provider: Provider | None) -> dict[str, dict[str, object]]:
    if provider is None:
        return {}
    return {str(row["name"]): row for row in await scheduler.status(provider.name)}


async def _file_provider(
    provider: Provider, live: LiveUpstreams, scheduler: Admission
) -> dict[str, Any]:
    status = await _status(scheduler, provider)
    credentials = [
        {
            "id": c.name,
            "name": c.name,
            "has_key": c.secret is not None,
            "key_hint": None,  # the file's keys are the file's: not even a hint leaves it
            "has_proxy": getattr(c.client, "proxy", None) is not None,
            "concurrency": c.concurrency,
            "requests_per_minute": c.requests_per_minute,
            "tokens_per_minute": c.tokens_per_minute,
            "enabled": True,
            "state": status.get(c.name, {}).get("state"),
            "last_error": status.get(c.name, {}).get("last_error"),
        }
        for c in provider.credentials
    ]
    return {
        "id": None,
        "name": provider.name,
        "kind": provider.kind.value,
        "base_url": _without_userinfo(getattr(provider, "base_url", None)),
        "api_version": getattr(provider, "api_version", None),
        "has_proxy": any(c["has_proxy"] for c in credentials),
        "enabled": True,
        "source": "file",
        "credentials": credentials,
        "models": _models(provider.name, live.file_models(provider.name), live.model_settings),
        "usable": not credentials or any(c["state"] != "resting" for c in credentials),
    }


async def _console_provider(
    entry: ConsoleProvider, live: LiveUpstreams, scheduler: Admission
) -> dict[str, Any]:
    row = entry.row
    running = live.live(row.name)
    status = await _status(scheduler, running)
    credentials = []
    for c in entry.credentials:
        seen = status.get(c.name, {})
        credentials.append(
            {
                "id": c.id,
                "name": c.name,
                "has_key": c.key_sealed is not None,
                "key_hint": c.key_hint,
                "has_proxy": c.proxy_sealed is not None,
                "concurrency": c.concurrency,
                "requests_per_minute": c.requests_per_minute,
                "tokens_per_minute": c.tokens_per_minute,
                "enabled": c.enabled,
                "state": seen.get("state") if c.enabled else None,
                "last_error": entry.unreadable.get(c.id) or seen.get("last_error"),
            }
        )
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "base_url": row.base_url,
        "api_version": row.api_version,
        "has_proxy": row.proxy_sealed is not None,
        "enabled": row.enabled,
        "source": "console",
        "credentials": credentials,
        "models": _models(row.name, [], live.model_settings),
        "usable": running is not None
        and any(c["state"] not in (None, "resting") for c in credentials),
    }


async def upstreams_view(
    live: LiveUpstreams, registry: Registry, scheduler: Admission, default_model: str | None
) -> dict[str, Any]:
    providers = [await _file_provider(p, live, scheduler) for p in live.file_providers]
    providers += [await _console_provider(entry, live, scheduler) for entry in live.console]
    return {
        "providers": providers,
        "default_model": default_model,
        "bundled_demo": registry.is_bundled(default_model),
    }
