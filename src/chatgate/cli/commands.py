"""The `chatgate` command: serve, migrate, manage users, check the configuration."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from chatgate import __version__
from chatgate.config import LoadedSettings, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from chatgate.server.announce import Tls

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
    from chatgate.db.engine import prepare_sqlite_file, private_dir
    from chatgate.db.migrate import upgrade

    private_dir(settings.data_dir)
    prepare_sqlite_file(settings.resolved_database_url)
    upgrade(settings.resolved_database_url)


def _with_users(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run `action(users_service)` against the database (migrated first)."""
    from chatgate.db.engine import Database
    from chatgate.security.secrets import TokenHasher
    from chatgate.services.site_settings import instance_secret
    from chatgate.services.users import Users

    _migrate(settings)

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        await db.start()
        try:
            users = Users(db, settings, TokenHasher(await instance_secret(settings, db)))
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
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes serving the port together (SO_REUSEPORT); above 1 needs "
            "PostgreSQL and Redis (docs/scaling.md).",
        ),
    ] = 1,
) -> None:
    """Serve ChatGate (migrates the database first)."""
    tls = _tls(tls_cert, tls_key)

    from chatgate import logging as chatgate_logging
    from chatgate.server import lifecycle
    from chatgate.server.announce import announcing

    settings = _load(
        env_file,
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        allow_open_network=allow_open_network or None,
        trusted_proxies=[a.strip() for a in forwarded_allow_ips.split(",")]
        if forwarded_allow_ips
        else None,
    ).settings
    if workers > 1:
        _check_workers(settings)
    chatgate_logging.configure(settings.log_level, settings.log_format)
    console.print(f"[bold]ChatGate {__version__}[/] — preparing the database…")
    _migrate(settings)  # once, here, before any worker starts
    if workers > 1:
        from chatgate.server.workers import run_workers

        raise typer.Exit(run_workers(settings, tls, workers))
    lifecycle.serve(settings, tls, on_started=announcing(settings, tls))


def _tls(cert: Path | None, key: Path | None) -> Tls | None:
    """The --tls-cert/--tls-key pair, refused in one sentence when half given or missing."""
    from chatgate.server.announce import Tls

    if (cert is None) != (key is None):
        err.print("[red]--tls-cert and --tls-key go together.[/]")
        raise typer.Exit(2)
    for path in (cert, key):
        if path is not None and not path.is_file():
            err.print(f"[red]{path} does not exist.[/] Make one with: chatgate cert --self-signed")
            raise typer.Exit(2)
    return Tls(cert, key) if cert and key else None


def _check_workers(settings: Settings) -> None:
    """Refuse --workers N > 1 before touching anything, in one sentence, when it cannot work."""
    from sqlalchemy.engine import make_url

    if settings.redis_url is None:
        err.print(
            "[red]--workers needs a shared Redis[/] (CHATGATE_REDIS_URL) and PostgreSQL: without "
            "them each worker process would keep its own queues, limits and live streams "
            "(docs/scaling.md)."
        )
        raise typer.Exit(2)
    if make_url(settings.resolved_database_url).drivername.startswith("sqlite"):
        err.print(
            "[red]--workers needs PostgreSQL[/] (CHATGATE_DATABASE_URL): SQLite lets one process "
            "write at a time, so the workers would queue on its file lock before every answer "
            "starts (docs/scaling.md)."
        )
        raise typer.Exit(2)


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
def doctor(
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not contact the upstreams.")
    ] = False,
) -> None:
    """Print the effective configuration (secrets masked), check the database, and check that each
    upstream credential is reachable through its proxy."""
    from chatgate.cli.doctor import report

    loaded = _load(env_file, config, data_dir=data_dir)
    ok = report(loaded, console, check_upstreams=not offline)
    raise typer.Exit(0 if ok else 1)


@app.command("import")
def import_history(
    file: Annotated[
        Path,
        typer.Argument(help="chatgpt-web export, ChatGPT conversations.json or a ChatGate export."),
    ],
    user: Annotated[str, typer.Option("--user", help="Whose history this becomes.")],
    time_zone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="The time zone chatgpt-web's local times were written in (e.g. Asia/Shanghai), "
            "when the file does not tell.",
        ),
    ] = None,
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
) -> None:
    """Import a history file for a user (all of it, or nothing; conversations imported before
    are skipped)."""
    from chatgate.db.engine import Database
    from chatgate.errors import ChatGateError
    from chatgate.services.importers import parse, zone_named
    from chatgate.services.transfer import Transfer

    settings = _load(env_file, config, data_dir=data_dir).settings
    try:
        raw = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]Cannot read {file}: {exc.strerror}[/]")
        raise typer.Exit(1) from exc

    async def run(users: Any) -> Any:
        owner = await users.get_by_username(user)
        with console.status(f"Reading {file.name} ({len(raw) / 1e6:.1f} MB)…"):
            parsed = parse(raw, zone_named(time_zone))
        db = Database(settings.resolved_database_url)
        await db.start()
        try:
            with console.status(f"Importing {len(parsed.conversations)} conversations…"):
                return await Transfer(db).import_parsed(owner.id, parsed)
        finally:
            await db.close()

    try:
        report = _with_users(settings, run)
    except ChatGateError as exc:
        err.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    console.print(
        f"Imported {report.conversations} conversations and {report.messages} messages "
        f"({report.format} format) for {user}."
    )
    for outcome, count in report.counts.items():
        if outcome != "imported":
            console.print(f"  {count} skipped: {outcome.replace('_', ' ')}")
    for item in report.skipped:
        console.print(f"  skipped {item['where']}: {item['reason']}")


def _sqlite_file(settings: Settings) -> Path:
    """The database's SQLite file; for PostgreSQL, say how pg_dump does the job and stop."""
    from chatgate import backup as backups

    path = backups.sqlite_path(settings.resolved_database_url)
    if path is None:
        console.print(backups.pg_dump_hint(settings.resolved_database_url))
        raise typer.Exit(2)
    return path


@contextlib.contextmanager
def _backup_errors() -> Iterator[None]:
    """A backup or restore that cannot be done: its reason, in red, and exit status 1."""
    from chatgate import backup as backups

    try:
        yield
    except backups.BackupError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (must not exist).")],
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
) -> None:
    """A consistent copy of the database, safe while the server runs."""
    from chatgate import backup as backups

    settings = _load(env_file, config, data_dir=data_dir).settings
    path = _sqlite_file(settings)
    with _backup_errors():
        backups.backup(path, file)
    console.print(
        f"Backed up {path} to {file} ({file.stat().st_size / 1e6:.1f} MB); integrity check passed."
    )
    console.print("The copy contains password hashes and conversations: keep it private.")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file made by `chatgate backup`.")],
    env_file: EnvFile = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
) -> None:
    """Replace the database with a backup (stop the server first). The current one is kept."""
    from chatgate import backup as backups

    settings = _load(env_file, config, data_dir=data_dir).settings
    path = _sqlite_file(settings)
    with _backup_errors():
        kept = backups.restore(path, file)
    _migrate(settings)
    console.print(
        f"Restored {path} from {file}."
        + (f" The previous database is kept as {kept}." if kept else "")
    )


@app.command()
def cert(
    self_signed: Annotated[
        bool, typer.Option("--self-signed", help="Make a self-signed certificate (for a LAN).")
    ] = False,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="Name or address the certificate is for; repeatable."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for cert.pem and key.pem.")] = Path(
        "data/tls"
    ),
    days: Annotated[int, typer.Option(help="Validity in days.")] = 825,
) -> None:
    """Make a TLS certificate for `chatgate serve --tls-cert --tls-key` (needs the openssl command)."""
    import ipaddress
    import shutil
    import socket
    import subprocess

    if not self_signed:
        err.print(
            "Only --self-signed is supported; for a public server use a proxy with Let's Encrypt (docs/deployment.md)."
        )
        raise typer.Exit(2)
    openssl = shutil.which("openssl")
    if openssl is None:
        err.print("[red]The openssl command is needed (Debian/Ubuntu: apt-get install openssl).[/]")
        raise typer.Exit(2)
    names = host or ["localhost", socket.gethostname(), "127.0.0.1"]
    alt = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            alt.append(f"IP:{name}")
        except ValueError:
            alt.append(f"DNS:{name}")
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments; names only go into the certificate
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-sha256",
            "-nodes",
            "-days",
            str(days),
            "-keyout",
            str(key_path),
            "-out",
            str(cert_path),
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            "subjectAltName=" + ",".join(alt),
        ],
        check=True,
        capture_output=True,
    )
    key_path.chmod(0o600)
    console.print(f"Wrote {cert_path} and {key_path} for {', '.join(names)} (valid {days} days).")
    console.print(f"Serve with: chatgate serve --tls-cert {cert_path} --tls-key {key_path}")
    console.print(
        "Browsers will warn once about a self-signed certificate; accept it on each device."
    )


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def main() -> None:
    app()
