"""Azure OpenAI Chat Completions (a deployment of an OpenAI model in an Azure resource), streamed.

Sources (facts only):
* Azure OpenAI REST reference, data plane inference (learn.microsoft.com/azure/ai-foundry/openai/
  reference): ``POST {endpoint}/openai/deployments/{deployment-id}/chat/completions
  ?api-version=...``; the key goes in an ``api-key`` header (``Authorization: Bearer`` is for
  Microsoft Entra tokens); a request without ``api-version`` gets 404 "Resource not found", a
  wrong key 401 "Access denied due to invalid subscription key or wrong API endpoint...".
* MicrosoftDocs/azure-ai-docs ``articles/ai-services/openai/concepts/content-filter-streaming.md``
  (recorded streams): the first chunk has ``"choices": []``, empty ``id``/``model``/``object``,
  ``created: 0`` and ``prompt_filter_results``; chunks carry ``content_filter_results``; with the
  Asynchronous Filter, annotation chunks (a choice with ``content_filter_results`` and
  ``content_filter_offsets`` but no ``delta``) arrive between tokens and even after
  ``finish_reason: "stop"``, and a blocked completion ends with such a choice whose
  ``finish_reason`` is ``"content_filter"``.
* azure-sdk-for-python ``sdk/openai/azure-openai/tests`` ("API versions after 2023-05-15 send an
  empty first completion"); a recorded Azure stream in dto-btn/ssc-assistant's tests (role chunk
  ``{"content": "", "refusal": null, "role": "assistant"}`` with empty ``content_filter_results``,
  keys in alphabetical order).
"""

from __future__ import annotations

from tests.fakes.dialects import (
    API_KEY,
    Check,
    Refusal,
    Seen,
    Transcript,
    asks_for_usage,
    plain_history,
    sse,
    streams,
)

DEPLOYMENT = "gpt-4o-prod"
PATH = f"/openai/deployments/{DEPLOYMENT}/chat/completions"
DEFAULT_API_VERSION = "2024-10-21"  # ChatGate's default (the current GA data-plane version)
PREVIEW_API_VERSION = "2025-04-01-preview"


def api_key_header(seen: Seen) -> Refusal | None:
    if seen.headers.get("api-key") != API_KEY or API_KEY in seen.headers.get("authorization", ""):
        return 401, {
            "error": {
                "code": "401",
                "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                "Make sure to provide a valid key for an active subscription and use a correct "
                "regional API endpoint for your resource.",
            }
        }
    return None


def api_version(version: str) -> Check:
    def check(seen: Seen) -> Refusal | None:
        if seen.query.get("api-version") != [version]:
            return 404, {"error": {"code": "404", "message": "Resource not found"}}
        return None

    return check


ANSWER = sse(r"""
data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]}

data: {"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1767225700,"id":"chatcmpl-AzR1q","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"protected_material_code":{"filtered":false,"detected":false},"protected_material_text":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":"Guten Tag! Größe: 10 µm"},"finish_reason":null,"index":0,"logprobs":null}],"created":1767225700,"id":"chatcmpl-AzR1q","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"protected_material_code":{"filtered":false,"detected":false},"protected_material_text":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" — naïve façade, 日本語 ✓"},"finish_reason":null,"index":0,"logprobs":null}],"created":1767225700,"id":"chatcmpl-AzR1q","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1767225700,"id":"chatcmpl-AzR1q","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[],"created":1767225700,"id":"chatcmpl-AzR1q","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":{"completion_tokens":16,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":25,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},"total_tokens":41}}

data: [DONE]

""")

# Asynchronous Filter: tokens at once, annotations later, the block at the end.
FILTERED = sse(r"""
data: {"id":"","object":"","created":0,"model":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}],"choices":[],"usage":null}

data: {"id":"chatcmpl-AzR2b","object":"chat.completion.chunk","created":1767225701,"model":"gpt-4o-2024-11-20","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}],"usage":null}

data: {"id":"chatcmpl-AzR2b","object":"chat.completion.chunk","created":1767225701,"model":"gpt-4o-2024-11-20","choices":[{"index":0,"finish_reason":null,"delta":{"content":"Hey"}}],"usage":null}

data: {"id":"chatcmpl-AzR2b","object":"chat.completion.chunk","created":1767225701,"model":"gpt-4o-2024-11-20","choices":[{"index":0,"finish_reason":null,"delta":{"content":" Jude,"}}],"usage":null}

data: {"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":null,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"content_filter_offsets":{"check_offset":65,"start_offset":65,"end_offset":1056}}],"usage":null}

data: {"id":"chatcmpl-AzR2b","object":"chat.completion.chunk","created":1767225701,"model":"gpt-4o-2024-11-20","choices":[{"index":0,"finish_reason":null,"delta":{"content":" don’t"}}],"usage":null}

data: {"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":"content_filter","content_filter_results":{"protected_material_text":{"detected":true,"filtered":true}},"content_filter_offsets":{"check_offset":65,"start_offset":65,"end_offset":1056}}],"usage":null}

data: [DONE]

""")

_SOURCE = "Azure OpenAI REST reference; azure-ai-docs content-filter-streaming.md"

TRANSCRIPTS = (
    Transcript(
        name="azure",
        source=_SOURCE,
        kind="azure",
        protocol="openai",
        body=ANSWER,
        text="Guten Tag! Größe: 10 µm — naïve façade, 日本語 ✓",
        usage=(25, 16),
        model=DEPLOYMENT,
        base_path="",
        path=PATH,
        checks=(
            api_key_header,
            api_version(DEFAULT_API_VERSION),
            streams,
            asks_for_usage,
            plain_history,
        ),
    ),
    Transcript(
        name="azure_filtered",
        source=_SOURCE,
        kind="azure",
        protocol="openai",
        body=FILTERED,
        text="Hey Jude, don’t",
        finish="content_filter",
        model=DEPLOYMENT,
        base_path="",
        path=PATH,
        provider={"api_version": PREVIEW_API_VERSION},
        checks=(
            api_key_header,
            api_version(PREVIEW_API_VERSION),
            streams,
            plain_history,
        ),
    ),
)
