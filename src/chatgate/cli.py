"""The `chatgate` command: serve, migrate, manage users, check the configuration."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from chatgate import __version__
from chatgate.config import LoadedSettings, Settings, SettingsError, load_settings

app = typer.Typer(
    help="ChatGate: a self-hosted shared ChatGPT.", no_args_is_help=True, add_completion=False
)
user_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
# Wide when piped (CI logs, `doctor > file`): masked values must not be cut off.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
T = TypeVar("T")

EnvFile = Annotated[
    Path | None,
    typer.Option(
        "--env-file", help="A .env file (chatgpt-web's service/.env works).", show_default=False
    ),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="chatgate.toml with providers and quotas.")
]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the database and secret live.")
]


def _load(env_file: Path | None, config: Path | None, **overrides: Any) -> LoadedSettings:
    try:
        return load_settings(env_file=env_file, config_file=config, overrides=overrides)
    except SettingsError as exc:
        err.print(f"[bold red]Configuration error[/]: {exc}")
        raise typer.Exit(2) from exc


def _migrate(settings: Settings) -> None:
    from chatgate.db.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)


def _with_users(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run `action(users_service)` against the database (migrated first)."""
    from chatgate.db.engine import Database
    from chatgate.security.secrets import TokenHasher, load_or_create_secret
    from chatgate.services.users import Users

    _migrate(settings)

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        await db.start()
        try:
            users = Users(db, settings, TokenHasher(load_or_create_secret(settings.data_dir)))
            return await action(users)
        finally:
            await db.close()

    return asyncio.run(run())


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 0.0.0.0].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 3002].")] = None,
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    allow_open_network: Annotated[
        bool,
        typer.Option(
            "--allow-open-network", help="Let open mode (no sign-in) listen beyond localhost."
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated proxy addresses whose X-Forwarded-* headers are trusted."
        ),
    ] = None,
) -> None:
    """Serve ChatGate (migrates the database first)."""
    import uvicorn

    from chatgate import logging as chatgate_logging
    from chatgate.app import create_app
    from chatgate.services.container import Services

    loaded = _load(
        env_file,
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        allow_open_network=allow_open_network or None,
        trusted_proxies=[a.strip() for a in forwarded_allow_ips.split(",")]
        if forwarded_allow_ips
        else None,
    )
    settings = loaded.settings
    chatgate_logging.configure(settings.log_level, settings.log_format)
    console.print(f"[bold]ChatGate {__version__}[/] — preparing the database…")
    _migrate(settings)

    async def announce(services: Services) -> None:
        shown_host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        base = (settings.public_url or f"http://{shown_host}:{settings.port}").rstrip("/")
        console.print(
            f"[bold green]ChatGate is serving[/] on {settings.host}:{settings.port} — open {base}/"
        )
        if await services.users.needs_setup():
            token = await services.users.issue_setup_token()
            if token:
                console.print(
                    f"[bold yellow]No administrator yet.[/] Create one with this one-time link:\n"
                    f"    {base}/setup?token={token}\n"
                    f"  (or run: chatgate user add NAME --admin)"
                )

    class GracefulServer(uvicorn.Server):
        # uvicorn re-raises SIGTERM after a graceful shutdown, so the process "dies of SIGTERM";
        # systemd and CI read that as a failure. A clean stop exits 0.
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    application = create_app(settings, on_started=announce)
    server = GracefulServer(
        uvicorn.Config(
            application,
            host=settings.host,
            port=settings.port,
            proxy_headers=False,  # the app applies ProxyHeadersMiddleware with our trusted list
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
        )
    )
    server.run()


@app.command()
def migrate(env_file: EnvFile = None, config: ConfigFile = None, data_dir: DataDir = None) -> None:
    """Apply database migrations."""
    settings = _load(env_file, config, data_dir=data_dir).settings
    _migrate(settings)
    console.print("Database is up to date.")


@user_app.command("add")
def user_add(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
) -> None:
    """Create an account."""
    from chatgate.errors import ChatGateError

    settings = _load(env_file, config, data_dir=data_dir).settings
    password = _read_password(password_stdin)
    try:
        user = _with_users(
            settings,
            lambda users: users.create_user(username, password, role="admin" if admin else "user"),
        )
    except ChatGateError as exc:
        err.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    console.print(f"Created {'administrator' if admin else 'user'} {user.username}.")


@user_app.command("list")
def user_list(
    env_file: EnvFile = None, config: ConfigFile = None, data_dir: DataDir = None
) -> None:
    """List accounts."""
    settings = _load(env_file, config, data_dir=data_dir).settings
    users = _with_users(settings, lambda service: service.all())
    table = Table("username", "role", "status", "created")
    for user in users:
        table.add_row(
            user.username, user.role, user.status, user.created_at.strftime("%Y-%m-%d %H:%M")
        )
    console.print(table)


@user_app.command("passwd")
def user_passwd(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
) -> None:
    """Set a user's password (ends all their sessions)."""
    from chatgate.errors import ChatGateError

    settings = _load(env_file, config, data_dir=data_dir).settings
    password = _read_password(password_stdin)

    async def change(users: Any) -> None:
        user = await users.get_by_username(username)
        await users.set_password(user.id, password)

    try:
        _with_users(settings, change)
    except ChatGateError as exc:
        err.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    console.print(f"Password of {username} changed; their sessions have ended.")


def _set_status(username: str, status: str, settings: Settings) -> None:
    from chatgate.errors import ChatGateError

    async def change(users: Any) -> None:
        user = await users.get_by_username(username)
        await users.update(user.id, status=status)

    try:
        _with_users(settings, change)
    except ChatGateError as exc:
        err.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc


@user_app.command("disable")
def user_disable(
    username: str, env_file: EnvFile = None, config: ConfigFile = None, data_dir: DataDir = None
) -> None:
    """Disable an account (ends all its sessions)."""
    _set_status(username, "disabled", _load(env_file, config, data_dir=data_dir).settings)
    console.print(f"{username} is disabled; their sessions have ended.")


@user_app.command("enable")
def user_enable(
    username: str, env_file: EnvFile = None, config: ConfigFile = None, data_dir: DataDir = None
) -> None:
    """Enable (or approve) an account."""
    _set_status(username, "active", _load(env_file, config, data_dir=data_dir).settings)
    console.print(f"{username} is active.")


@app.command()
def doctor(env_file: EnvFile = None, config: ConfigFile = None, data_dir: DataDir = None) -> None:
    """Print the effective configuration (secrets masked) and check the database."""
    from chatgate.doctor import report

    loaded = _load(env_file, config, data_dir=data_dir)
    ok = report(loaded, console)
    raise typer.Exit(0 if ok else 1)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def main() -> None:
    app()
