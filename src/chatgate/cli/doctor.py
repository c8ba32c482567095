"""`chatgate doctor`: what the configuration is, where each value came from, and whether the
database answers. Secrets are always masked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from chatgate import __version__
from chatgate.config import LoadedSettings, Settings, mask_proxy, mask_secret
from chatgate.errors import UpstreamError, UpstreamTimeout
from chatgate.providers.wire import ProxyFailed


def shown(name: str, value: Any) -> str:
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        return mask_proxy(raw) if name == "proxy" else mask_secret(raw)
    if value is None:
        return "—"
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def _database_line(settings: Settings) -> tuple[bool, str]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from chatgate.db.engine import sync_url
    from chatgate.db.migrate import alembic_config

    url = settings.resolved_database_url
    safe = make_url(url).render_as_string(hide_password=True)
    database = make_url(url).database
    if settings.is_sqlite and database and not Path(database).exists():
        return (
            True,
            f"{safe}: not created yet (the first `chatgate serve` or `chatgate migrate` creates it)",
        )
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        engine = create_engine(sync_url(url), poolclass=NullPool)
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - reported to the admin, not raised
        return (
            False,
            f"{safe}: cannot connect ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
        )
    if current is None:
        return (
            True,
            f"{safe}: reachable, not yet migrated (serve or `chatgate migrate` will create the tables)",
        )
    state = "up to date" if current == head else f"needs migration to {head}"
    return True, f"{safe}: reachable, schema {current} ({state})"


def report(loaded: LoadedSettings, console: Console, *, check_upstreams: bool = True) -> bool:
    settings = loaded.settings
    console.print(f"[bold]ChatGate {__version__}[/] — effective configuration")
    if loaded.config_file:
        console.print(f"  configuration file: {loaded.config_file}")
    if loaded.env_file:
        console.print(f"  env file: {loaded.env_file}")
    table = Table("setting", "value", "from")
    for name in Settings.model_fields:
        if name in ("providers",):
            continue
        value = getattr(settings, name)
        source = loaded.sources[name]
        table.add_row(
            name,
            shown(name, value),
            source.origin + (f" ({source.detail})" if source.detail else ""),
        )
    console.print(table)

    if loaded.mapped:
        mapped = Table("chatgpt-web variable", "became", "value", title="chatgpt-web variables")
        for item in loaded.mapped:
            mapped.add_row(item.variable, item.target, item.value)
        console.print(mapped)

    providers = Table(
        "provider", "kind", "base URL", "models", "credentials", "proxy", title="Upstreams"
    )
    for provider in settings.providers:
        credentials = ", ".join(
            f"{c.name or i}: {shown('api_key', c.api_key)}"
            for i, c in enumerate(provider.credentials)
        )
        proxy = provider.proxy or settings.proxy
        providers.add_row(
            provider.name,
            provider.kind.value,
            provider.base_url or "—",
            ", ".join(m.id for m in provider.models) or "(discovered)",
            credentials or "—",
            shown("proxy", proxy),
        )
    if settings.providers:
        console.print(providers)
    else:
        console.print(
            "Upstreams: none configured — chats use the bundled local model when it is installed."
        )

    ok, line = _database_line(settings)
    console.print(f"Database: {line}", style=None if ok else "bold red")
    if check_upstreams and settings.providers:
        results = asyncio.run(probe_upstreams(settings))
        table = Table(
            "provider", "credential", "through proxy", "result", title="Upstream reachability"
        )
        for result in results:
            table.add_row(
                result.provider,
                result.credential,
                result.proxy,
                result.message,
                style=None if result.ok else "red",
            )
        console.print(table)
        ok = ok and all(r.ok for r in results)
    return ok


@dataclass(frozen=True)
class Probe:
    provider: str
    credential: str
    proxy: str
    ok: bool
    message: str


async def _probe(provider: Any, credential: Any, proxy: str) -> Probe:
    kind = provider.kind.value
    headers: dict[str, str] = {}
    if kind == "anthropic":
        url = f"{provider.base_url}/models"
        headers = {"x-api-key": credential.secret or "", "anthropic-version": "2023-06-01"}
    elif kind in ("openai", "gemini", "mistral"):
        url = f"{provider.base_url}/models"
        headers = {"authorization": f"Bearer {credential.secret}"} if credential.secret else {}
    elif kind == "azure":
        url = f"{provider.base_url}/openai/models?api-version={provider.api_version}"
        headers = {"api-key": credential.secret or ""}
    else:
        url = provider.url

    async def ask() -> int:
        async with credential.client.stream("GET", url, headers=headers) as response:
            await response.aread()
            return int(response.status_code)

    try:
        status = await asyncio.wait_for(ask(), timeout=10)
    except ProxyFailed as exc:
        return Probe(
            provider.name, credential.name, proxy, False, f"the proxy failed: {exc.message}"
        )
    except (UpstreamTimeout, TimeoutError):
        return Probe(provider.name, credential.name, proxy, False, "connection timed out")
    except UpstreamError as exc:
        return Probe(provider.name, credential.name, proxy, False, f"unreachable ({exc.message})")
    if kind == "chatgpt_web":
        # Only a real message proves the token; a reply of any kind proves the proxy answers.
        return Probe(
            provider.name,
            credential.name,
            proxy,
            status < 500,
            f"the reverse proxy answers (HTTP {status})",
        )
    if status == 200:
        return Probe(provider.name, credential.name, proxy, True, "ok")
    if status in (401, 403):
        return Probe(
            provider.name,
            credential.name,
            proxy,
            False,
            f"reachable, but the key is refused (HTTP {status})",
        )
    if status == 407:
        return Probe(
            provider.name,
            credential.name,
            proxy,
            False,
            "the proxy refused its credentials (HTTP 407)",
        )
    return Probe(provider.name, credential.name, proxy, status < 500, f"reachable (HTTP {status})")


async def probe_upstreams(settings: Settings) -> list[Probe]:
    """Ask each credential's upstream a harmless question through its own proxy."""
    from chatgate.providers.registry import build_provider

    results = []
    for config in settings.providers:
        provider = build_provider(config, settings)
        try:
            for index, credential in enumerate(provider.credentials):
                item = config.credentials[index] if index < len(config.credentials) else None
                proxy = (item.proxy if item else None) or config.proxy or settings.proxy
                shown_proxy = mask_proxy(proxy.get_secret_value()) if proxy else "—"
                if config.kind.value == "local":
                    results.append(Probe(config.name, credential.name, "—", True, "local model"))
                    continue
                results.append(await _probe(provider, credential, shown_proxy))
        finally:
            await provider.aclose()
    return results
