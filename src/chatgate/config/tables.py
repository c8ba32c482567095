"""The tables nested in the settings: `[[providers]]` with their credentials and models,
`[quotas]` (also per role) and `[[oidc_providers]]`. Each is a strict model: a key it does not know
stops the startup instead of being silently ignored."""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator


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
