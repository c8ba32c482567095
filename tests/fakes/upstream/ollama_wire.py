"""Ollama's native model list, ``GET /api/tags`` (``models[].name``): what model discovery
falls back to when a server's OpenAI-style ``/v1/models`` is missing."""

from __future__ import annotations

from collections.abc import Sequence

from tests.fakes.upstream.records import Json

__all__ = ["ollama_tags"]


def ollama_tags(models: Sequence[str]) -> Json:
    """Ollama's native model list (`GET /api/tags`): `models[].name` is what chat requests
    name; no key is asked (Ollama has none)."""
    return {
        "models": [
            {
                "name": model,
                "model": model,
                "modified_at": "2025-10-03T23:34:03.409490317-07:00",
                "size": 3338801804,
                "digest": "a2af6cc3eb7fa8be8504abaf9b04e88f17a119ec3f04a3addf55f92841195f5a",
                "details": {
                    "format": "gguf",
                    "family": "gemma",
                    "families": ["gemma"],
                    "parameter_size": "4.3B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for model in models
        ]
    }
