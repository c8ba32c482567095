"""The `Settings` schema: every setting of ChatGate, its default and meaning, and the checks
that need several settings at once. Where the values come from is `chatgate.config.sources`."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from chatgate.config.tables import OidcProviderConfig, ProviderConfig, ProviderKind, QuotaConfig

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

    # The web app re-attaches 0.5, 1 and 2 s after a drop; what held an answer longer was memory
    # (at 200 streams of 5-s answers, 30 s kept ~1,100 finished answers), not a replay anyone got.
    stream_retention_seconds: float = Field(
        5.0,
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
