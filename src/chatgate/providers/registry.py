"""Builds the configured providers and knows which provider serves which model."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from chatgate.config import CredentialConfig, ModelConfig, ProviderConfig, ProviderKind, Settings
from chatgate.errors import ModelUnavailable, NoModel
from chatgate.providers.anthropic import Anthropic
from chatgate.providers.azure import AzureOpenAI
from chatgate.providers.base import Credential, Provider
from chatgate.providers.chatgpt_web import ChatGPTWeb
from chatgate.providers.client import build_client
from chatgate.providers.gemini import DEFAULT_BASE_URL as GEMINI_BASE_URL
from chatgate.providers.gemini import Gemini
from chatgate.providers.mistral import DEFAULT_BASE_URL as MISTRAL_BASE_URL
from chatgate.providers.mistral import Mistral
from chatgate.providers.openai_compat import OpenAICompatible
from chatgate.providers.surface import IMAGES
from chatgate.security.redaction import register_secrets_from

log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY = {
    ProviderKind.openai: 4,
    ProviderKind.azure: 4,
    ProviderKind.gemini: 4,
    ProviderKind.mistral: 4,
    ProviderKind.anthropic: 4,
    ProviderKind.chatgpt_web: 1,  # the web backend answers one message at a time per token
    ProviderKind.local: 1,
}
DEFAULT_BASE = {
    ProviderKind.openai: "https://api.openai.com/v1",
    ProviderKind.gemini: GEMINI_BASE_URL,
    ProviderKind.mistral: MISTRAL_BASE_URL,
    ProviderKind.anthropic: "https://api.anthropic.com",
}


@dataclass(frozen=True, slots=True)
class ModelRoute:
    provider: Provider
    model: ModelConfig
    # What the admin console adds (services.upstreams): how people see it and who may use it.
    display_name: str | None = None
    vision: bool = False
    reasoning: bool = False
    allowed_roles: frozenset[str] | None = None  # None: everyone
    allowed_users: frozenset[str] | None = None  # lower-cased usernames; None: everyone

    @property
    def name(self) -> str:
        return self.display_name or self.model.id

    def allows(self, role: str, username: str) -> bool:
        """Whether this person may use the model (no list means everyone; either list admits)."""
        if self.allowed_roles is None and self.allowed_users is None:
            return True
        return role in (self.allowed_roles or ()) or username.lower() in (self.allowed_users or ())


def sees(provider: Provider, setting: bool) -> bool:
    """Whether a route takes images: its setting (the file's `vision = true`, or the admin
    console's), and only on a kind that can carry them (never ChatGPT web or the local model)."""
    return setting and IMAGES in provider.surface


def _credentials(config: ProviderConfig, settings: Settings) -> list[Credential]:
    credentials: list[Credential] = []
    configured = config.credentials or []
    for index, item in enumerate(configured):
        concurrency = item.concurrency or DEFAULT_CONCURRENCY[config.kind]
        proxy = item.proxy or config.proxy or settings.proxy
        client = build_client(
            proxy=proxy.get_secret_value() if proxy else None,
            connect_timeout=settings.connect_timeout,
            ca_bundle=item.ca_bundle or config.ca_bundle,
        )
        credentials.append(
            Credential(
                provider=config.name,
                name=item.name or str(index + 1),
                secret=item.api_key.get_secret_value() if item.api_key else None,
                concurrency=concurrency,
                requests_per_minute=item.requests_per_minute,
                tokens_per_minute=item.tokens_per_minute,
                client=client,
            )
        )
    return credentials


def build_provider(config: ProviderConfig, settings: Settings) -> Provider:
    credentials = _credentials(config, settings)
    base = config.base_url or DEFAULT_BASE.get(config.kind, "")
    if config.kind is ProviderKind.openai:
        if not credentials:  # keyless local servers (Ollama, llama.cpp): one anonymous credential
            credentials = _credentials(
                config.model_copy(update={"credentials": [CredentialConfig(name="anonymous")]}),
                settings,
            )
        return OpenAICompatible(config.name, base, list(config.models), credentials)
    if config.kind is ProviderKind.azure:
        return AzureOpenAI(
            config.name, base, list(config.models), credentials, api_version=config.api_version
        )
    if config.kind is ProviderKind.gemini:
        return Gemini(config.name, base, list(config.models), credentials)
    if config.kind is ProviderKind.mistral:
        return Mistral(config.name, base, list(config.models), credentials)
    if config.kind is ProviderKind.anthropic:
        return Anthropic(config.name, base, list(config.models), credentials)
    if config.kind is ProviderKind.chatgpt_web:
        return ChatGPTWeb(config.name, base, list(config.models), credentials)
    if config.kind is ProviderKind.local:
        # The local model next to upstreams, by choice: [[providers]] kind = "local".
        from chatgate.providers.local_llama import build_local_provider

        local = build_local_provider(
            settings,
            name=config.name,
            model=config.models[0] if config.models else None,
            required=True,
        )
        assert local is not None  # required=True raises instead
        return local
    raise ValueError(f"provider kind {config.kind} is not supported")


def build_providers(settings: Settings) -> list[Provider]:
    """The configured upstreams; with none, the bundled local model (when it is installed)."""
    register_secrets_from(settings)  # from here on, their values never leave the process
    if settings.providers:
        if settings.local_model_path and all(
            p.kind is not ProviderKind.local for p in settings.providers
        ):
            log.warning(
                "local_model_path is unused: upstreams are configured. "
                'Add [[providers]] name = "local", kind = "local" to offer the local model too.'
            )
        return [build_provider(p, settings) for p in settings.providers]
    from chatgate.providers.local_llama import build_local_provider

    local = build_local_provider(settings)
    return [local] if local is not None else []


class Registry:
    """Model id → provider; the default model; the providers to close at shutdown.

    One object for the life of the process (the chat service and the API hold it): the admin
    console's changes are swapped in with `replace`, all at once, between two awaits.
    """

    def __init__(self, providers: list[Provider], default_model: str | None) -> None:
        self._configured_default = default_model
        routes: list[ModelRoute] = []
        seen: dict[str, str] = {}
        for provider in providers:
            for model in provider.models:
                if model.id in seen:
                    raise ValueError(
                        f"model {model.id!r} is offered by providers {seen[model.id]!r} and "
                        f"{provider.name!r}: give one of them another id "
                        "(models = [{id = ..., upstream = ...}])"
                    )
                seen[model.id] = provider.name
                routes.append(ModelRoute(provider, model, vision=sees(provider, model.vision)))
        if default_model is not None and default_model not in seen:
            raise ValueError(f"default_model {default_model!r} is not offered by any provider")
        self.providers: list[Provider] = []
        self._routes: dict[str, ModelRoute] = {}
        self.default_model: str | None = None
        self.replace(providers, routes)

    def replace(self, providers: list[Provider], routes: list[ModelRoute]) -> None:
        """Offer these providers and routes from now on. A model id offered twice keeps its first
        route (the configuration file's providers come first). Requests already routed keep the
        objects they hold."""
        by_id: dict[str, ModelRoute] = {}
        for route in routes:
            by_id.setdefault(route.model.id, route)
        default = self._configured_default
        if default not in by_id:
            default = next(iter(by_id), None)
        self.providers, self._routes, self.default_model = list(providers), by_id, default

    @property
    def bundled_default(self) -> bool:
        """New conversations are answered by the bundled SmolLM2 (the startup banner says so)."""
        return self.is_bundled(self.default_model)

    def is_bundled(self, model_id: str | None) -> bool:
        """Whether `model_id` is answered by the bundled demo model."""
        route = self._routes.get(model_id) if model_id is not None else None
        if route is None:
            return False
        provider = route.provider
        return provider.kind is ProviderKind.local and bool(getattr(provider, "bundled", False))

    def route(self, model_id: str | None) -> ModelRoute:
        if not self._routes:
            raise NoModel()
        if model_id is None:
            if self.default_model is None:
                raise NoModel()
            model_id = self.default_model
        route = self._routes.get(model_id)
        if route is None:
            raise ModelUnavailable(f"The model {model_id!r} is not available on this server.")
        return route

    def models(self) -> list[ModelRoute]:
        return list(self._routes.values())

    def models_for(self, role: str, username: str) -> list[ModelRoute]:
        """The models this person may choose."""
        return [r for r in self._routes.values() if r.allows(role, username)]

    async def aclose(self) -> None:
        for provider in self.providers:
            try:
                await provider.aclose()
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.warning("closing provider failed", provider=provider.name, error=str(exc))
