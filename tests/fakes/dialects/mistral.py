"""Mistral AI (``api.mistral.ai/v1``), OpenAI-like chat completions, streamed.

Sources (facts only):
* docs.mistral.ai API reference, "Chat Completion": ``POST /v1/chat/completions`` with Bearer
  auth; the request schema is closed (``model``, ``messages``, ``temperature``, ``top_p``,
  ``max_tokens``, ``stream``, ``stop``, ``random_seed``, ``response_format``, ``tools``,
  ``tool_choice``, ``presence_penalty``, ``frequency_penalty``, ``n``, ``prediction``,
  ``parallel_tool_calls``, ``prompt_mode``, ``safe_prompt``).
* A recorded ``mistral-large-latest`` stream (M-Lai-ai/LLM-Provider-reference
  ``Mistral/streaming.md``): a first chunk ``{"role": "assistant", "content": ""}``, then text,
  and the last chunk carries the last text, ``finish_reason`` and ``usage`` together: usage
  comes without being asked for.
* Client issues (avante.nvim #2347, anon-kode #53, eca #231, mistralai/platform-docs-public
  #7): any other field, ``stream_options`` and ``max_completion_tokens`` included, is refused
  with 422 ``extra_forbidden`` "Extra inputs are not permitted".
* Mistral's reasoning models (``magistral-*``; docs.mistral.ai "Reasoning") and recorded
  streams in client test suites (Go, Swift, Rust and Kotlin clients): ``delta.content`` is then
  a list of typed parts, ``{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}``
  (sometimes ``"closed": true``) and ``{"type": "text", "text": ...}``, both kinds possibly in
  one delta, and later plain strings again.
"""

from __future__ import annotations

from tests.fakes.dialects import (
    Refusal,
    Seen,
    Transcript,
    bearer_key,
    model_is,
    plain_history,
    sse,
    streams,
)

MODEL = "mistral-small-latest"

ACCEPTED = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "prompt_mode",
        "safe_prompt",
    }
)


def closed_schema(seen: Seen) -> Refusal | None:
    extra = [name for name in seen.body if name not in ACCEPTED]
    if not extra:
        return None
    detail = [
        {
            "type": "extra_forbidden",
            "loc": ["body", name],
            "msg": "Extra inputs are not permitted",
            "input": seen.body[name],
        }
        for name in extra
    ]
    return 422, {
        "object": "error",
        "message": {"detail": detail},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


ANSWER = sse(r"""
data: {"id":"4c1a7f0e2b8d4e6f9a3b5c7d9e1f2a3b","object":"chat.completion.chunk","created":1767226500,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"4c1a7f0e2b8d4e6f9a3b5c7d9e1f2a3b","object":"chat.completion.chunk","created":1767226500,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":"Le fromage"},"finish_reason":null}]}

data: {"id":"4c1a7f0e2b8d4e6f9a3b5c7d9e1f2a3b","object":"chat.completion.chunk","created":1767226500,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":" préféré ? Le comté"},"finish_reason":null}]}

data: {"id":"4c1a7f0e2b8d4e6f9a3b5c7d9e1f2a3b","object":"chat.completion.chunk","created":1767226500,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":", affiné 24 mois 🧀"},"finish_reason":null}]}

data: {"id":"4c1a7f0e2b8d4e6f9a3b5c7d9e1f2a3b","object":"chat.completion.chunk","created":1767226500,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":"."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"total_tokens":40,"completion_tokens":28}}

data: [DONE]

""")

MAGISTRAL = sse(r"""
data: {"id":"9e2d4b6a8c0f4e1a3b5d7f9a1c3e5b7d","object":"chat.completion.chunk","created":1767226550,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"9e2d4b6a8c0f4e1a3b5d7f9a1c3e5b7d","object":"chat.completion.chunk","created":1767226550,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"Bon, 17 × 3"}]}]},"finish_reason":null}]}

data: {"id":"9e2d4b6a8c0f4e1a3b5d7f9a1c3e5b7d","object":"chat.completion.chunk","created":1767226550,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":" = 51."}],"closed":true},{"type":"text","text":"17 × 3"}]},"finish_reason":null}]}

data: {"id":"9e2d4b6a8c0f4e1a3b5d7f9a1c3e5b7d","object":"chat.completion.chunk","created":1767226550,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"content":" = **51**."},"finish_reason":null}]}

data: {"id":"9e2d4b6a8c0f4e1a3b5d7f9a1c3e5b7d","object":"chat.completion.chunk","created":1767226550,"model":"magistral-medium-2509","choices":[{"index":0,"delta":{"content":" Voilà ✓"},"finish_reason":"stop"}],"usage":{"prompt_tokens":15,"total_tokens":60,"completion_tokens":45}}

data: [DONE]

""")

TRANSCRIPTS = (
    Transcript(
        name="mistral",
        source="docs.mistral.ai chat completion; a recorded Mistral stream; 422 client issues",
        kind="mistral",
        protocol="openai",
        body=ANSWER,
        text="Le fromage préféré ? Le comté, affiné 24 mois 🧀.",
        usage=(12, 28),
        model=MODEL,
        checks=(bearer_key, closed_schema, streams, plain_history, model_is(MODEL)),
    ),
    Transcript(
        name="mistral_magistral",
        source="docs.mistral.ai reasoning; recorded Magistral streams in client test suites",
        kind="mistral",
        protocol="openai",
        body=MAGISTRAL,
        text="17 × 3 = **51**. Voilà ✓",
        reasoning="Bon, 17 × 3 = 51.",
        usage=(15, 45),
        model="magistral-medium-latest",
        checks=(
            bearer_key,
            closed_schema,
            streams,
            plain_history,
            model_is("magistral-medium-latest"),
        ),
    ),
)
