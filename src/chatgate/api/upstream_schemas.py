"""Bodies of Admin → Upstreams (/api/admin/upstreams). Secrets (`api_key`, `proxy`) are
write-only: they are in requests, never in a response (`has_key`, `key_hint`, `has_proxy`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chatgate.api.schemas import Text, _In, _Out

Kind = Literal["openai", "azure", "gemini", "mistral", "anthropic", "chatgpt_web", "local"]
Name = Annotated[Text, Field(min_length=1, max_length=64)]
Url = Annotated[Text, Field(max_length=500)]
Secret = Annotated[Text, Field(max_length=10_000)]
ModelId = Annotated[Text, Field(min_length=1, max_length=200)]
Limit = Annotated[int, Field(ge=1, le=100_000)]
PerMinute = Annotated[int, Field(ge=1, le=100_000_000)]
Price = Annotated[float, Field(ge=0, le=1_000_000)]


class CredentialOut(_Out):
    id: str
    name: str
    has_key: bool
    key_hint: str | None
    has_proxy: bool
    concurrency: int | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    enabled: bool
    state: str | None
    last_error: str | None


class ModelSettingOut(_Out):
    provider: str
    id: str
    display_name: str | None
    enabled: bool
    context_window: int | None
    vision: bool
    reasoning: bool
    input_price: float | None
    output_price: float | None
    allowed_roles: list[str] | None
    allowed_users: list[str] | None


class ProviderOut(_Out):
    id: str | None
    name: str
    kind: str
    base_url: str | None
    api_version: str | None
    has_proxy: bool
    enabled: bool
    source: Literal["console", "file"]
    credentials: list[CredentialOut]
    models: list[ModelSettingOut]
    usable: bool


class UpstreamsOut(_Out):
    providers: list[ProviderOut]
    default_model: str | None
    bundled_demo: bool


class _Connection(_In):
    """An upstream as typed in the console's form, not saved (yet)."""

    kind: Kind
    base_url: Url | None = None
    api_version: Annotated[Text, Field(max_length=40)] | None = None
    proxy: Secret | None = None
    api_key: Secret | None = None


class _Limits(_In):
    concurrency: Limit | None = None
    requests_per_minute: PerMinute | None = None
    tokens_per_minute: PerMinute | None = None


class ProviderIn(_Connection, _Limits):
    name: Name
    models: Annotated[list[ModelId], Field(max_length=500)] | None = None


class ProviderPatch(_In):
    name: Name | None = None
    base_url: Url | None = None
    api_version: Annotated[Text, Field(max_length=40)] | None = None
    proxy: Secret | None = Field(None, description='"" removes the proxy.')
    enabled: bool | None = None


class CredentialIn(_Limits):
    name: Name | None = None
    api_key: Secret | None = None
    proxy: Secret | None = None


class CredentialPatch(CredentialIn):
    api_key: Secret | None = Field(None, description="Omitted: the saved key is kept.")
    enabled: bool | None = None


class DiscoverIn(_Connection):
    pass


class ModelsFound(_Out):
    models: list[str]


class TestIn(_Connection):
    model: ModelId


class SavedTestIn(_In):
    model: ModelId
    credential_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None


class FileTestIn(_In):
    model: ModelId


class ModelSettingIn(_In):
    enabled: bool
    display_name: Annotated[Text, Field(max_length=200)] | None = None
    context_window: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    vision: bool = False
    reasoning: bool = False
    input_price: Price | None = None
    output_price: Price | None = None
    allowed_roles: Annotated[list[Literal["admin", "user"]], Field(max_length=10)] | None = None
    allowed_users: (
        Annotated[list[Annotated[Text, Field(max_length=64)]], Field(max_length=1000)] | None
    ) = None
