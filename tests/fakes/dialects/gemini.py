"""Gemini through Google's OpenAI-compatible endpoint, streamed.

Sources (facts only):
* ai.google.dev/gemini-api/docs/openai ("OpenAI compatibility"): base URL
  ``https://generativelanguage.googleapis.com/v1beta/openai/``, the Gemini API key as
  ``Authorization: Bearer``, ``stream_options.include_usage`` in the streaming example.
* Recorded chunks of that endpoint in client test suites (a Rust test "a real gemini chunk
  survives deserialisation", a Python streaming adapter test with Google's empty tool-call ids):
  keys in alphabetical order, ``"role": "assistant"`` in every delta, no ``finish_reason`` key
  until the last chunk, which carries text, ``finish_reason`` and ``usage`` together; for
  thinking models ``total_tokens`` is larger than ``prompt_tokens + completion_tokens`` (the
  thoughts are counted only in the total).
* Google API errors (a wrong key is 400 ``INVALID_ARGUMENT`` "API key not valid"); the
  OpenAI-compatible endpoint wraps the error object in a JSON array.
"""

from __future__ import annotations

from tests.fakes.dialects import (
    API_KEY,
    Refusal,
    Seen,
    Transcript,
    asks_for_usage,
    model_is,
    plain_history,
    sse,
    streams,
)

MODEL = "gemini-2.5-flash"


def gemini_key(seen: Seen) -> Refusal | None:
    if seen.headers.get("authorization") != f"Bearer {API_KEY}":
        error = {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
        }
        return 400, [{"error": error}]
    return None


ANSWER = sse(r"""
data: {"choices":[{"delta":{"content":"Bonjour ! Voici trois faits :\n1. 🦒 Les girafes dorment","role":"assistant"},"index":0}],"created":1767226400,"id":"gPZbab2lJ8yWz7IP8q2x4Qk","model":"gemini-2.5-flash","object":"chat.completion.chunk"}

data: {"choices":[{"delta":{"content":" peu.\n2. Le miel ne se gâte jamais.\n3. ","role":"assistant"},"index":0}],"created":1767226400,"id":"gPZbab2lJ8yWz7IP8q2x4Qk","model":"gemini-2.5-flash","object":"chat.completion.chunk"}

data: {"choices":[{"delta":{"content":"Les pieuvres ont trois cœurs 🐙.","role":"assistant"},"finish_reason":"stop","index":0}],"created":1767226400,"id":"gPZbab2lJ8yWz7IP8q2x4Qk","model":"gemini-2.5-flash","object":"chat.completion.chunk","usage":{"completion_tokens":38,"prompt_tokens":11,"total_tokens":412}}

data: [DONE]

""")

TRANSCRIPTS = (
    Transcript(
        name="gemini",
        source="ai.google.dev Gemini OpenAI compatibility; recorded chunks in client tests",
        kind="gemini",
        protocol="openai",
        body=ANSWER,
        text=(
            "Bonjour ! Voici trois faits :\n1. 🦒 Les girafes dorment peu.\n"
            "2. Le miel ne se gâte jamais.\n3. Les pieuvres ont trois cœurs 🐙."
        ),
        usage=(11, 401),  # the thoughts (total - prompt - completion) are output too
        model=MODEL,
        base_path="/v1beta/openai",
        path="/v1beta/openai/chat/completions",
        checks=(gemini_key, streams, asks_for_usage, plain_history, model_is(MODEL)),
    ),
)
