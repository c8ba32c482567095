"""Mistral AI (`api.mistral.ai/v1`): OpenAI-like Chat Completions with a closed request schema.

Mistral refuses any field it does not know with 422 "Extra inputs are not permitted", and
`stream_options` is one of them; it reports usage in the last chunk of every stream without
being asked. So the request is OpenAI's without `stream_options`, with the seed under Mistral's
name (`random_seed`), and never with `user`, `logprobs` or `n` (refused up front).
"""

from __future__ import annotations

from typing import Any

from chatgate.config import ProviderKind
from chatgate.providers.base import ChatRequest
from chatgate.providers.openai_compat import OpenAICompatible
from chatgate.providers.surface import LOGPROBS, OPENAI_SURFACE, SEVERAL_CHOICES, USER

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"


class Mistral(OpenAICompatible):
    kind = ProviderKind.mistral
    surface = OPENAI_SURFACE - {USER, LOGPROBS, SEVERAL_CHOICES}

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body = super()._body(request)
        body.pop("stream_options", None)
        if "seed" in body:
            body["random_seed"] = body.pop("seed")
        return body
