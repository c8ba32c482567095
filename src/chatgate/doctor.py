"""`chatgate doctor`: what the configuration is, where each value came from, and whether the
database answers. Secrets are always masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from chatgate import __version__
from chatgate.compat import mask_proxy
from chatgate.config import LoadedSettings, Settings, mask_secret


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


def report(loaded: LoadedSettings, console: Console) -> bool:
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
    return ok
