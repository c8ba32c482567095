"""Configuration: one `Settings` object, read once at startup.

Sources, highest precedence first:

1. explicit overrides (command-line flags),
2. `CHATGATE_*` environment variables (nested with `__`, lists as JSON),
3. `CHATGATE_*` lines of the `--env-file`,
4. chatgpt-web's variable names (`OPENAI_API_KEY`, `AUTH_SECRET_KEY`, …) from the environment or
   the `--env-file`, translated by `chatgate.compat`,
5. `chatgate.toml` (providers, credentials, quotas),
6. defaults.

A setting given by two sources with different values is an error when one of them is a
chatgpt-web variable (an old `.env` left next to a new configuration is a common mistake);
otherwise the higher source wins. Unknown `CHATGATE_*` variables and unknown keys in
`chatgate.toml` stop the startup with a message that names them.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "CHATGATE_"


class SettingsError(Exception):
    """The configuration cannot be used; the message says which setting and what to do."""


class AuthMode(StrEnum):
    accounts = "accounts"
    password = "password"
    open = "open"


class Registration(StrEnum):
    closed = "closed"
    invite = "invite"
    approval = "approval"
    open = "open"


class ProviderKind(StrEnum):
    openai = "openai"
    azure = "azure"
    gemini = "gemini"
    mistral = "mistral"
    anthropic = "anthropic"
    chatgpt_web = "chatgpt_web"
    local = "local"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    id: str = Field(description="Name users and API clients see.")
    upstream: str | None = Field(None, description="Name sent to the upstream (default: id).")
    context_window: int | None = Field(None, gt=0, description="Tokens the model accepts.")
    max_output_tokens: int | None = Field(None, gt=0)
    input_price: float | None = Field(None, ge=0, description="USD per million prompt tokens.")
    output_price: float | None = Field(None, ge=0, description="USD per million answer tokens.")
    vision: bool = Field(
        False, description="Accepts images (never for the chatgpt_web and local kinds)."
    )

    @property
    def upstream_name(self) -> str:
        return self.upstream or self.id


def _usable_ca_bundle(path: Path | None) -> Path | None:
    """A CA bundle that cannot be read or holds no certificate stops the startup, naming it."""
    if path is not None:
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(
                f"the CA bundle {str(path)!r} cannot be used: {reason} "
                "(it must be a readable file of PEM certificates)"
            ) from None
    return path


CABundle = Annotated[
    Path | None,
    AfterValidator(_usable_ca_bundle),
    Field(
        description="PEM file of CA certificates trusted besides the public ones (an upstream "
        "behind an internal CA)."
    ),
]


class CredentialConfig(_Strict):
    name: str | None = None
    api_key: SecretStr | None = Field(None, description="API key or ChatGPT access token.")
    concurrency: int | None = Field(None, gt=0, description="Requests in flight at once.")
    requests_per_minute: int | None = Field(None, gt=0)
    tokens_per_minute: int | None = Field(None, gt=0)
    proxy: SecretStr | None = Field(None, description="Outbound proxy for this credential.")
    ca_bundle: CABundle = None


PROVIDER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ProviderConfig(_Strict):
    name: str = Field(pattern=PROVIDER_NAME_PATTERN)
    kind: ProviderKind
    base_url: str | None = None
    models: list[ModelConfig] = Field(default_factory=list)
    proxy: SecretStr | None = None
    ca_bundle: CABundle = None
    credentials: list[CredentialConfig] = Field(default_factory=list)
    api_version: str | None = Field(
        None,
        description="kind = azure only: the api-version query parameter (default 2024-10-21).",
    )

    @model_validator(mode="before")
    @classmethod
    def _models_as_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("models"), list):
            data = dict(data)
            data["models"] = [{"id": m} if isinstance(m, str) else m for m in data["models"]]
        return data


class QuotaConfig(_Strict):
    """Limits per person; unset means unlimited. Checked before any upstream call."""

    requests_per_hour: int | None = Field(
        None, ge=0, description="Per user; chatgpt-web's MAX_REQUEST_PER_HOUR."
    )
    concurrent_generations: int | None = Field(
        None, ge=0, description="Answers being written at once."
    )
    messages_per_day: int | None = Field(None, ge=0, description="Per UTC day.")
    messages_per_month: int | None = Field(None, ge=0, description="Per UTC calendar month.")
    tokens_per_day: int | None = Field(
        None, ge=0, description="Prompt + answer tokens per UTC day."
    )
    tokens_per_month: int | None = Field(
        None, ge=0, description="Prompt + answer tokens per UTC month."
    )
    max_input_tokens: int | None = Field(
        None, ge=1, description="Largest prompt (with context) one request may send."
    )
    allowed_models: list[str] | None = Field(
        None, description="Models this person may use (default: all)."
    )


SSO_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
SSO_CALLBACK_PATH = "/api/auth/oidc/{name}/callback"


class OidcProviderConfig(_Strict):
    """One OpenID Connect provider people can sign in with (`[[oidc_providers]]`)."""

    name: str = Field(
        pattern=SSO_NAME_PATTERN,
        description="Short id in URLs; the redirect URI is public_url + "
        "/api/auth/oidc/<name>/callback.",
    )
    display_name: str = Field("", description='Button text: "Sign in with <display_name>".')
    issuer: str = Field(
        description="Issuer URL; its /.well-known/openid-configuration is read at first use."
    )
    client_id: str
    client_secret: SecretStr | None = Field(
        None, description="Confidential clients; without it the flow is public (PKCE only)."
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "profile"],
        description="Scopes asked for (openid is always added).",
    )
    allowed_domains: list[str] = Field(
        default_factory=list,
        description="New accounts only for verified emails of these domains (empty: any).",
    )
    required_claim: str | None = Field(
        None, description="New accounts only when this claim (e.g. groups) holds a listed value."
    )
    required_values: list[str] = Field(
        default_factory=list, description="Values of required_claim that admit a person."
    )
    role_claim: str | None = Field(
        None, description="Claim (string or list) the role is mapped from, at every sign-in."
    )
    admin_values: list[str] = Field(
        default_factory=list, description="Values of role_claim that make an administrator."
    )
    quota_groups: dict[str, str] = Field(
        default_factory=dict,
        description="Value of role_claim -> name in role_quotas: that group's limits apply.",
    )
    end_session: bool = Field(
        True, description="Offer the provider's end_session_endpoint when signing out."
    )
    trust_email: bool = Field(
        False,
        description="Treat the email claim as verified without email_verified (Microsoft Entra "
        "sends none; its email is set by the tenant's administrators).",
    )

    @property
    def label(self) -> str:
        return self.display_name or self.name


def _clock_skew(value: float) -> float:
    if not 0 <= value <= 120:
        raise ValueError("at most 120 seconds (tokens are short-lived)")
    return value


class Settings(BaseSettings):
    """Every setting of ChatGate. Environment names are `CHATGATE_` + the field name in capitals."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    data_dir: Path = Field(
        Path("data"), description="Where the SQLite database and the generated secret live."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite in data_dir. PostgreSQL: postgresql+psycopg://user@host/db",
    )
    host: str = Field("0.0.0.0", description="Address to bind.")  # noqa: S104 - a LAN server by design
    port: int = Field(3002, ge=1, le=65535)
    public_url: str | None = Field(
        None, description="Public base URL, used in printed links, e.g. https://chat.example.org"
    )
    redis_url: str | None = Field(
        None,
        description="Redis for running several instances (redis://host:6379/0); see docs/scaling.md.",
    )
    redis_prefix: str = Field("chatgate", description="Prefix of ChatGate's keys in Redis.")
    secret_key: SecretStr | None = Field(
        None,
        description="64 hex digits keying session and API-key hashes. Default: generated into data_dir "
        "(one instance) or into the shared database (several instances).",
    )
    db_pool_size: int = Field(
        10, ge=1, le=200, description="Database connections kept open per instance."
    )
    db_max_overflow: int = Field(10, ge=0, le=200, description="Extra connections under load.")
    auth_mode: AuthMode = Field(
        AuthMode.accounts, description="accounts, password (one shared password) or open."
    )
    registration: Registration = Field(
        Registration.closed, description="closed, invite, approval or open."
    )
    access_password: SecretStr | None = Field(
        None, description="The shared password of password mode."
    )
    allow_open_network: bool = Field(
        False, description="Let open mode bind a non-loopback address."
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses whose X-Forwarded-For/-Proto headers are believed.",
    )
    session_days: int = Field(
        30, gt=0, description="Sessions end after this many days without use."
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookie flag; auto = when the request came over HTTPS."
    )
    max_body_bytes: int = Field(1_048_576, gt=0, description="Largest accepted request body.")
    max_import_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest history file accepted for import."
    )
    attachment_max_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Largest file a person can attach to a message."
    )
    attachment_quota_bytes: int = Field(
        200 * 1024 * 1024, ge=0, description="Attached files a person may keep stored, in bytes."
    )
    attachments_per_message: int = Field(
        10, ge=0, le=100, description="Files one message may carry."
    )
    login_attempts_per_account: str = Field(
        "10/15 minutes",
        description="Failed sign-ins allowed per account from one client address "
        "(never per account alone, so nobody can lock an account out).",
    )
    login_attempts_per_ip: str = Field(
        "30/15 minutes", description="Failed sign-ins allowed per client address."
    )
    registrations_per_ip: str = Field(
        "10/hour",
        description="New accounts, and new guests in password and open mode, per client address.",
    )
    oidc_providers: list[OidcProviderConfig] = Field(
        default_factory=list,
        description="OpenID Connect sign-in (chatgate.toml [[oidc_providers]]); needs public_url.",
    )
    oidc_clock_skew_seconds: Annotated[float, AfterValidator(_clock_skew)] = Field(
        60.0, description="Clock difference tolerated on ID token times (0-120)."
    )
    oidc_timeout: float = Field(
        10.0, gt=0, le=60, description="Seconds for each request to an OpenID provider."
    )
    local_passwords: bool = Field(
        True,
        description="Sign-in with a local password; false: only break_glass_admin may use one.",
    )
    break_glass_admin: str | None = Field(
        None, description="The administrator who keeps a password when local_passwords is false."
    )
    trusted_header: str | None = Field(
        None,
        description="Header naming the signed-in user, set by an authenticating proxy "
        "(e.g. X-Forwarded-User); believed only from trusted_header_proxies.",
    )
    trusted_header_email: str | None = Field(
        None, description="Header with the user's email, from the same proxy (optional)."
    )
    trusted_header_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of the authenticating proxy (the TCP peer, never a "
        "forwarded address); required with trusted_header.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    api_docs: bool = Field(False, description="Serve the interactive API docs at /docs.")

    providers: list[ProviderConfig] = Field(
        default_factory=list, description="Upstreams (chatgate.toml)."
    )
    default_model: str | None = Field(None, description="Model for new conversations.")
    proxy: SecretStr | None = Field(
        None, description="Outbound proxy for every upstream without its own."
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect to an upstream.")
    first_token_timeout: float = Field(
        120.0, gt=0, description="Seconds to wait for the first token."
    )
    idle_timeout: float = Field(
        90.0, gt=0, description="Longest silence between tokens (not a total deadline)."
    )
    upstream_retries: int = Field(2, ge=0, le=10, description="Retries before the first token.")
    credential_rest_seconds: float = Field(
        20.0,
        gt=0,
        le=30,
        description="A credential the upstream refused (401/402/403) rests this long, then is "
        "tried again; each refusal in a row doubles the rest, up to credential_rest_max_seconds.",
    )
    credential_rest_max_seconds: float = Field(
        600.0, gt=0, description="The longest rest of a refused credential."
    )
    quotas: QuotaConfig = Field(default_factory=QuotaConfig, description="Limits for everyone.")
    role_quotas: dict[str, QuotaConfig] = Field(
        default_factory=dict, description="Limits per role (admin, user) over the general ones."
    )
    admin_content_access: bool = Field(
        False,
        description="Let administrators read people's conversations (every access is audited).",
    )

    local_model_path: Path | None = Field(
        None, description="A GGUF file instead of the bundled SmolLM2."
    )
    local_threads: int = Field(1, ge=1, le=64, description="CPU threads for the local model.")
    local_context: int = Field(2048, ge=256, description="Context window of the local model.")
    local_concurrency: int = Field(1, ge=1, le=16, description="Local generations at once.")

    stream_retention_seconds: float = Field(
        30.0,
        ge=0,
        description="How long a finished stream can be replayed event by event from memory "
        "(later, a client gets the stored answer whole).",
    )
    stop_on_disconnect: bool = Field(
        False, description="Stop a generation when its last client leaves."
    )
    shutdown_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM, how long running answers may finish before they are marked interrupted.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() merges every source itself (it must know where each value came from).
        return (init_settings,)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.auth_mode is AuthMode.password and not self.access_password:
            raise ValueError(
                "auth_mode is 'password' but no access password is set: "
                "set CHATGATE_ACCESS_PASSWORD (or chatgpt-web's AUTH_SECRET_KEY)."
            )
        if (
            self.auth_mode is AuthMode.open
            and not self.allow_open_network
            and not _is_loopback(self.host)
        ):
            raise ValueError(
                f"auth_mode 'open' lets anyone who reaches {self.host}:{self.port} use your upstream "
                "credentials. Bind 127.0.0.1 (--host 127.0.0.1), choose another auth_mode, or accept "
                "the risk with --allow-open-network (CHATGATE_ALLOW_OPEN_NETWORK=true)."
            )
        names = [p.name for p in self.providers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(
                f"providers: the name {duplicated[0]!r} is used twice; give each provider its own name."
            )
        offered: dict[str, str] = {}
        for provider in self.providers:
            for model in provider.models:
                if model.id in offered:
                    raise ValueError(
                        f"model {model.id!r} is offered by providers {offered[model.id]!r} and {provider.name!r}: "
                        'give one another id, e.g. models = [{id = "other-name", upstream = "..."}]'
                    )
                offered[model.id] = provider.name
            if provider.kind is ProviderKind.chatgpt_web and not provider.base_url:
                raise ValueError(
                    f"provider {provider.name!r}: a ChatGPT access token needs the URL of a reverse proxy "
                    "(base_url, or chatgpt-web's API_REVERSE_PROXY). ChatGate has no default proxy: "
                    "whoever runs the proxy can see the token."
                )
            if provider.kind is ProviderKind.azure and not provider.base_url:
                raise ValueError(
                    f"provider {provider.name!r}: Azure OpenAI needs base_url = the resource endpoint, "
                    'e.g. "https://my-resource.openai.azure.com"; each model\'s upstream is its deployment name'
                )
            if provider.api_version is not None and provider.kind is not ProviderKind.azure:
                raise ValueError(
                    f'provider {provider.name!r}: api_version is an Azure OpenAI setting (kind = "azure")'
                )
            if (
                provider.kind
                in (
                    ProviderKind.openai,
                    ProviderKind.azure,
                    ProviderKind.gemini,
                    ProviderKind.mistral,
                    ProviderKind.anthropic,
                )
                and not provider.credentials
            ):
                raise ValueError(
                    f"provider {provider.name!r} has no credentials: add [[providers.credentials]] api_key = ..."
                )
        sso = [p.name for p in self.oidc_providers]
        if len(set(sso)) != len(sso):
            raise ValueError("oidc_providers: each provider needs its own name.")
        if self.oidc_providers and not self.public_url:
            raise ValueError(
                "oidc_providers need public_url (the redirect URI is public_url + "
                "/api/auth/oidc/<name>/callback, registered at the provider)."
            )
        for sso_provider in self.oidc_providers:
            unknown = sorted(set(sso_provider.quota_groups.values()) - set(self.role_quotas))
            if unknown:
                raise ValueError(
                    f"oidc_providers {sso_provider.name!r}: quota group {unknown[0]!r} is not "
                    "in role_quotas."
                )
        if self.trusted_header and not self.trusted_header_proxies:
            raise ValueError(
                "trusted_header needs trusted_header_proxies: the addresses of the proxy that "
                "sets it (anyone else could send the header)."
            )
        for proxy_address in self.trusted_header_proxies:
            try:
                ipaddress.ip_network(proxy_address, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_header_proxies: {proxy_address!r} is not an address or network"
                ) from None
        if not self.local_passwords and self.auth_mode is not AuthMode.accounts:
            raise ValueError("local_passwords = false applies to auth_mode 'accounts' only.")
        if not self.local_passwords and not (self.oidc_providers or self.trusted_header):
            raise ValueError(
                "local_passwords = false needs another way in: oidc_providers or trusted_header "
                "(otherwise only break_glass_admin could ever sign in)."
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'chatgate.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SettingSource:
    """Where an effective value came from, for `chatgate doctor`."""

    origin: str  # "default", "flag", "environment", "env file", "chatgpt-web", "chatgate.toml"
    detail: str = ""


@dataclass
class LoadedSettings:
    settings: Settings
    sources: dict[str, SettingSource] = field(default_factory=dict)
    mapped: list[MappedVariable] = field(default_factory=list)
    config_file: Path | None = None
    env_file: Path | None = None


@dataclass(frozen=True)
class MappedVariable:
    """One chatgpt-web variable and the setting it became."""

    variable: str
    target: str
    value: str  # masked when secret


def _env_source(environ: Mapping[str, str]) -> dict[str, Any]:
    source = EnvSettingsSource(
        Settings,
        case_sensitive=False,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
    )
    source.env_vars = {k.lower(): v for k, v in environ.items()}
    return dict(source())


def _dotenv_source(env_file: Path) -> dict[str, Any]:
    source = DotEnvSettingsSource(
        Settings,
        env_file=env_file,
        case_sensitive=False,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
    )
    # DotEnvSettingsSource also reads the process environment; keep only the file's own values.
    source.env_vars = {k.lower(): v for k, v in source._read_env_files().items()}
    return dict(source())


# Variables that name where the settings are, rather than being settings.
LOCATOR_VARIABLES = frozenset({"CONFIG_FILE", "ENV_FILE"})


def _check_unknown_variables(names: list[str], where: str) -> None:
    known = {f.upper() for f in Settings.model_fields} | LOCATOR_VARIABLES
    for name in names:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        head = name.upper()[len(ENV_PREFIX) :].split("__", 1)[0]
        if head not in known:
            hint = difflib.get_close_matches(head, known, n=1)
            suggestion = f" Did you mean {ENV_PREFIX}{hint[0]}?" if hint else ""
            raise SettingsError(
                f"Unknown setting {name} in {where}.{suggestion} See docs/configuration.md."
            )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"Cannot read the configuration file {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}.") from exc
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(Settings.model_fields), n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        raise SettingsError(
            f"Unknown setting {unknown[0]!r} in {path}.{suggestion} See docs/configuration.md."
        )
    return data


def _dotenv_all(env_file: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not env_file.is_file():
        raise SettingsError(f"The env file {env_file} does not exist.")
    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def load_settings(
    *,
    overrides: Mapping[str, Any] | None = None,
    env_file: Path | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read every source, check it, and return the settings with where each value came from."""
    from chatgate import compat

    env = dict(os.environ if environ is None else environ)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_unknown_variables(list(env), "the environment")

    file_values: dict[str, str] = {}
    if env_file is None and env.get(f"{ENV_PREFIX}ENV_FILE"):
        env_file = Path(env[f"{ENV_PREFIX}ENV_FILE"])
    if env_file is not None:
        file_values = _dotenv_all(env_file)
        _check_unknown_variables(list(file_values), str(env_file))

    if config_file is None:
        named = env.get(f"{ENV_PREFIX}CONFIG_FILE") or file_values.get(f"{ENV_PREFIX}CONFIG_FILE")
        if named:
            config_file = Path(named)
            if not config_file.is_file():
                raise SettingsError(
                    f"CHATGATE_CONFIG_FILE names {config_file}, which does not exist."
                )
        elif Path("chatgate.toml").is_file():
            config_file = Path("chatgate.toml")
    toml_values = _read_toml(config_file) if config_file else {}

    env_values = _env_source(
        {k: v for k, v in env.items() if not k.upper().endswith(("CONFIG_FILE", "ENV_FILE"))}
    )
    dotenv_values_ = (
        _dotenv_source(env_file)
        if env_file is not None and any(k.upper().startswith(ENV_PREFIX) for k in file_values)
        else {}
    )
    dotenv_values_ = {
        k: v for k, v in dotenv_values_.items() if k not in ("config_file", "env_file")
    }
    legacy = compat.translate(
        {**file_values, **env}, existing_providers=toml_values.get("providers", [])
    )

    layers: list[tuple[SettingSource, dict[str, Any]]] = [
        (SettingSource("chatgate.toml", str(config_file or "")), toml_values),
        (SettingSource("chatgpt-web"), legacy.values),
        (SettingSource("env file", str(env_file or "")), dotenv_values_),
        (SettingSource("environment"), env_values),
        (SettingSource("flag"), dict(overrides)),
    ]
    merged: dict[str, Any] = {}
    sources: dict[str, SettingSource] = {}
    for source, values in layers:
        for key, value in values.items():
            if key == "providers" and source.origin == "chatgpt-web":
                merged["providers"] = [*merged.get("providers", []), *value]
                sources.setdefault("providers", source)
                continue
            if (
                key in merged
                and sources[key].origin == "chatgpt-web"
                and _normalise(merged[key]) != _normalise(value)
            ):
                variable = legacy.variable_for.get(key, "a chatgpt-web variable")
                raise SettingsError(
                    f"Contradictory settings: {variable} sets {key} to {_show(key, merged[key])}, but the "
                    f"{source.origin} sets it to {_show(key, value)}. Remove one of them."
                )
            merged[key] = value
            sources[key] = source
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from exc
    for name in Settings.model_fields:
        sources.setdefault(name, SettingSource("default"))
    return LoadedSettings(settings, sources, legacy.mapped, config_file, env_file)


def _normalise(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, StrEnum):
        return value.value
    return str(value) if not isinstance(value, dict | list) else value


def _show(key: str, value: Any) -> str:
    if key in SECRET_FIELDS:
        return "(a secret)"
    return repr(_normalise(value))


SECRET_FIELDS = frozenset({"access_password", "proxy", "secret_key"})


def _explain(exc: ValidationError) -> str:
    lines = ["The configuration is invalid:"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


def mask_secret(value: str) -> str:
    """`sk-…wxyz` for long keys (enough to tell two apart); short secrets show nothing."""
    if len(value) < 20:
        return "•" * 8
    return f"{value[:3]}…{value[-4:]}"
