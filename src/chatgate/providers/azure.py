"""Azure OpenAI: an OpenAI model deployed in an Azure resource; Chat Completions with Azure's URL
shape and key header.

`base_url` is the resource endpoint (`https://<resource>.openai.azure.com`); each model's
`upstream` name is its deployment name. Requests go to
`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...` with the key in an
`api-key` header (`Authorization: Bearer` is for Microsoft Entra tokens, so the key is never put
there). The stream is OpenAI's, plus what the reader already absorbs: a first chunk with empty
`choices` and `prompt_filter_results`, `content_filter_results` on chunks, annotation-only chunks
of the asynchronous filter, and `finish_reason: "content_filter"` when the filter cuts an answer.
"""

from __future__ import annotations

from urllib.parse import quote

from chatgate.config import ModelConfig, ProviderKind
from chatgate.providers.base import ChatRequest, Credential
from chatgate.providers.openai_compat import OpenAICompatible

# The current generally available data-plane inference version (it accepts
# stream_options.include_usage, so streamed answers report their usage).
DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAI(OpenAICompatible):
    kind = ProviderKind.azure

    def __init__(
        self,
        name: str,
        base_url: str,
        models: list[ModelConfig],
        credentials: list[Credential],
        *,
        api_version: str | None = None,
    ) -> None:
        endpoint = base_url.rstrip("/").removesuffix("/openai")
        super().__init__(name, endpoint, models, credentials)
        self.api_version = api_version or DEFAULT_API_VERSION

    def _headers(self, credential: Credential) -> dict[str, str]:
        headers = {"accept": "text/event-stream"}
        if credential.secret:
            headers["api-key"] = credential.secret
        return headers

    def _completions_url(self, request: ChatRequest) -> str:
        deployment = quote(request.model.upstream_name, safe="")
        return (
            f"{self.base_url}/openai/deployments/{deployment}/chat/completions"
            f"?api-version={quote(self.api_version, safe='')}"
        )

    def _models_url(self) -> str:
        return f"{self.base_url}/openai/models?api-version={quote(self.api_version, safe='')}"

    async def list_models(self) -> list[str]:
        # What can be called here are the deployments, and they are configured, not discovered.
        return [m.id for m in self.models]
