"""Each provider kind sends what its service accepts and reads what it sends, without sockets.

A stub client stands in for the HTTP client: it hands the provider a transcript of tests/fakes/
dialects (the service's reply, byte for byte) after checking the request against that
transcript's rules (path, query, auth header, body fields the service refuses). The same
transcripts run through the whole server on a socket in tests/api/test_dialects.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from chatgate.config import ModelConfig, ProviderConfig, SettingsError, load_settings
from chatgate.errors import UpstreamError
from chatgate.providers.azure import DEFAULT_API_VERSION, AzureOpenAI
from chatgate.providers.base import ChatMessage, ChatRequest, Credential, Provider
from chatgate.providers.gemini import Gemini
from chatgate.providers.mistral import Mistral
from chatgate.providers.openai_compat import OpenAICompatible
from chatgate.providers.registry import build_provider
from tests.fakes.dialects import API_KEY, DIALECTS, Seen, Transcript, params
from tests.fakes.dialects import azure as azure_dialect
from tests.providers.test_adapters import Recording

BASE = "https://svc.example"


@dataclass
class StubResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes

    async def pump(self, feed: Callable[[bytes], None]) -> None:
        for index in range(0, len(self.body), 7):  # small pieces, cut anywhere
            feed(self.body[index : index + 7])

    def close(self) -> None:
        return None

    async def aread(self) -> bytes:
        return self.body


@dataclass
class StubClient:
    """Answers like the transcript's service: its refusal, or its recorded reply."""

    transcript: Transcript
    seen: list[Seen] = field(default_factory=list)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[StubResponse]:
        yield await self.open(method, url, json=json, headers=headers)

    async def open(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> StubResponse:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == BASE
        seen = Seen.of(method, parts.path, parts.query, headers or {}, json)
        self.seen.append(seen)
        refusal = self.transcript.refuse(seen)
        if refusal is not None:
            body = orjson.dumps(refusal[1])
            return StubResponse(refusal[0], {"content-type": "application/json"}, body)
        return StubResponse(
            self.transcript.http_status,
            dict(self.transcript.headers),
            body=self.transcript.body,
        )

    async def aclose(self) -> None:
        return None


def provider_for(transcript: Transcript) -> tuple[Provider, Credential, StubClient]:
    client = StubClient(transcript)
    credential = Credential("svc", "1", API_KEY, concurrency=1, client=client)
    config = ProviderConfig(
        name="svc",
        kind=transcript.kind,
        base_url=f"{BASE}{transcript.base_path}",
        models=[ModelConfig(id="m", upstream=transcript.model)],
        **transcript.provider,
    )
    provider = _construct(config, [credential])
    return provider, credential, client


def _construct(config: ProviderConfig, credentials: list[Credential]) -> Provider:
    from chatgate.providers.anthropic import Anthropic
    from chatgate.providers.chatgpt_web import ChatGPTWeb

    assert config.base_url is not None
    models = list(config.models)
    classes: dict[str, Callable[..., Provider]] = {
        "openai": OpenAICompatible,
        "gemini": Gemini,
        "mistral": Mistral,
        "anthropic": Anthropic,
        "chatgpt_web": ChatGPTWeb,
    }
    if config.kind == "azure":
        return AzureOpenAI(
            "svc", config.base_url, models, credentials, api_version=config.api_version
        )
    return classes[config.kind]("svc", config.base_url, models, credentials)


def request_for(provider: Provider) -> ChatRequest:
    return ChatRequest(
        model=provider.models[0],
        messages=[
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Bonjour 👋"),
            ChatMessage("assistant", "Salut !"),
            ChatMessage("user", "Et alors ?"),
        ],
        max_tokens=256,
    )


@pytest.mark.parametrize("name", params())
async def test_each_kind_sends_what_its_service_accepts_and_reads_its_reply(name: str) -> None:
    transcript = DIALECTS[name]
    provider, credential, client = provider_for(transcript)
    sink = Recording()
    error: UpstreamError | None = None
    try:
        await provider.stream(request_for(provider), credential, sink)
    except UpstreamError as exc:
        error = exc
    [seen] = client.seen
    assert transcript.refuse(seen) is None, transcript.refuse(seen)
    assert "".join(sink.texts) == transcript.text
    assert "".join(sink.thoughts) == transcript.reasoning
    if transcript.final == "error":
        assert error is not None and error.code == transcript.error_code
    else:
        assert error is None, error
        assert [reason for reason, _ in sink.finishes] == [transcript.finish]


async def test_azure_uses_the_deployment_path_the_api_version_and_the_api_key_header() -> None:
    provider, credential, client = provider_for(DIALECTS["azure"])
    await provider.stream(request_for(provider), credential, Recording())
    [seen] = client.seen
    assert seen.path == f"/openai/deployments/{azure_dialect.DEPLOYMENT}/chat/completions"
    assert seen.query == {"api-version": [DEFAULT_API_VERSION]}
    assert seen.headers["api-key"] == API_KEY
    assert "authorization" not in seen.headers  # the key is not also sent as a Bearer token


@pytest.mark.parametrize("endpoint", [BASE, f"{BASE}/", f"{BASE}/openai", f"{BASE}/openai/"])
async def test_azure_takes_the_endpoint_as_the_portal_shows_it(endpoint: str) -> None:
    credential = Credential(
        "svc", "1", API_KEY, concurrency=1, client=StubClient(DIALECTS["azure"])
    )
    provider = AzureOpenAI(
        "svc", endpoint, [ModelConfig(id="m", upstream="gpt-4o-prod")], [credential]
    )
    sink = Recording()
    await provider.stream(request_for(provider), credential, sink)
    assert "".join(sink.texts) == DIALECTS["azure"].text


async def test_a_refused_request_is_an_error_naming_the_service_status() -> None:
    """Mistral's 422 for a field it does not know, if an OpenAI provider is pointed at it."""
    transcript = DIALECTS["mistral"]
    client = StubClient(transcript)
    credential = Credential("svc", "1", API_KEY, concurrency=1, client=client)
    provider = OpenAICompatible(
        "svc", f"{BASE}/v1", [ModelConfig(id="m", upstream=transcript.model)], [credential]
    )
    with pytest.raises(UpstreamError) as caught:
        await provider.stream(request_for(provider), credential, Recording())
    assert "422" in caught.value.detail and "stream_options" in caught.value.detail


def test_the_registry_builds_each_kind(make_settings: Callable[..., Any]) -> None:
    key = [{"api_key": API_KEY}]
    settings = make_settings(
        providers=[
            {"name": "a", "kind": "azure", "base_url": BASE, "models": ["a1"], "credentials": key},
            {"name": "g", "kind": "gemini", "models": ["g1"], "credentials": key},
            {"name": "m", "kind": "mistral", "models": ["m1"], "credentials": key},
        ]
    )
    built = [build_provider(config, settings) for config in settings.providers]
    azure, gemini, mistral = built
    assert isinstance(azure, AzureOpenAI) and azure.api_version == DEFAULT_API_VERSION
    assert isinstance(gemini, Gemini)
    assert gemini.base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert isinstance(mistral, Mistral) and mistral.base_url == "https://api.mistral.ai/v1"


KEY = [{"api_key": "k"}]


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        ({"kind": "azure", "credentials": KEY}, "resource endpoint"),
        ({"kind": "openai", "api_version": "2024-10-21", "credentials": KEY}, "Azure"),
        ({"kind": "gemini"}, "no credentials"),
        ({"kind": "mistral"}, "no credentials"),
    ],
)
def test_provider_settings_that_cannot_work_are_refused(
    provider: dict[str, Any], says: str
) -> None:
    provider = {"name": "p", "models": ["x"], **provider}
    with pytest.raises(SettingsError) as caught:
        load_settings(overrides={"providers": [provider]}, environ={})
    assert says in str(caught.value)
