"""Gemini through Google's OpenAI-compatible endpoint (`.../v1beta/openai`): Chat Completions with
the Gemini API key as a Bearer token.

Its streams are OpenAI's with Gemini's habits, which the reader absorbs: `role` in every delta,
no `finish_reason` until the last chunk, which brings the last text, the finish reason and the
usage together. Its model list names models `models/<id>`; the ids to call are without it.

Of the OpenAI surface it carries what Google documents for the endpoint: tools and tool choice,
images as data URLs, JSON and JSON-schema output, seed and stop; `parallel_tool_calls`, `user`,
`logprobs`, `n` and images by http URL are refused up front rather than sent to be ignored.
"""

from __future__ import annotations

from chatgate.config import ProviderKind
from chatgate.providers.openai_compat import OpenAICompatible
from chatgate.providers.surface import (
    IMAGE_URLS,
    LOGPROBS,
    OPENAI_SURFACE,
    PARALLEL_TOOL_CALLS,
    SEVERAL_CHOICES,
    USER,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai"


class Gemini(OpenAICompatible):
    kind = ProviderKind.gemini
    surface = OPENAI_SURFACE - {PARALLEL_TOOL_CALLS, USER, IMAGE_URLS, LOGPROBS, SEVERAL_CHOICES}

    async def list_models(self) -> list[str]:
        return [model.removeprefix("models/") for model in await super().list_models()]
