"""OpenRouter, OpenAI-compatible, streamed (here routing to a reasoning model).

Sources (facts only):
* openrouter.ai/docs/api-reference/streaming: the base URL is ``https://openrouter.ai/api/v1``;
  SSE comments ``: OPENROUTER PROCESSING`` are sent to keep the connection open and must be
  ignored; an error after tokens were sent cannot change the 200 status, so it arrives as a
  ``data:`` event with a top-level ``error`` object (``code``, ``message``) beside a choice with
  ``finish_reason: "error"``, and the stream ends after it.
* openrouter.ai/docs "Reasoning Tokens": reasoning streams in ``delta.reasoning`` and, for the
  same text, in ``delta.reasoning_details`` items (``type: "reasoning.text"``, ``format``,
  ``index``; a ``signature`` for Anthropic models); ``completion_tokens_details.reasoning_tokens``.
* Effect-TS/effect PR #6117 (a recorded final chunk): usage arrives in a chunk with
  ``"choices": []`` carrying ``cost``, ``is_byok``, ``cost_details`` and token details;
  ``native_finish_reason`` and ``provider`` on the chunks (OpenRouter's chunk schema).
"""

from __future__ import annotations

from tests.fakes.dialects import OPENAI_CHECKS, Transcript, model_is, sse

MODEL = "anthropic/claude-sonnet-4"

ANSWER = sse(r"""
: OPENROUTER PROCESSING

: OPENROUTER PROCESSING

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"The user wants","reasoning_details":[{"type":"reasoning.text","text":"The user wants","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":" a greeting in Japanese: こんにちは.","reasoning_details":[{"type":"reasoning.text","text":" a greeting in Japanese: こんにちは.","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

: OPENROUTER PROCESSING

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[{"type":"reasoning.text","signature":"ErUBCkYIBRgCIkDhl3fsnvCV1T7nZ2cMNyLXZmlGVVTt3vRgxq0=","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[{"index":0,"delta":{"role":"assistant","content":"こんにちは！","reasoning":null},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[{"index":0,"delta":{"role":"assistant","content":" (Konnichiwa) means “hello”.","reasoning":null},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null},"finish_reason":"stop","native_finish_reason":"end_turn","logprobs":null}]}

data: {"id":"gen-1767225900-Qm3kLz","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1767225900,"choices":[],"usage":{"prompt_tokens":42,"completion_tokens":57,"total_tokens":99,"cost":0.000981,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0,"audio_tokens":0,"video_tokens":0},"cost_details":{"upstream_inference_cost":0.000981,"upstream_inference_prompt_cost":0.000126,"upstream_inference_completions_cost":0.000855},"completion_tokens_details":{"reasoning_tokens":38,"image_tokens":0,"audio_tokens":0}}}

data: [DONE]

""")

MID_STREAM_ERROR = sse(r"""
: OPENROUTER PROCESSING

data: {"id":"gen-1767225901-Xy7pQa","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion.chunk","created":1767225901,"choices":[{"index":0,"delta":{"role":"assistant","content":"Première partie"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1767225901-Xy7pQa","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion.chunk","created":1767225901,"choices":[{"index":0,"delta":{"role":"assistant","content":" de la réponse…"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1767225901-Xy7pQa","object":"chat.completion.chunk","created":1767225901,"model":"openai/gpt-4o","provider":"OpenAI","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}

""")

_SOURCE = "openrouter.ai docs: streaming (comments, mid-stream errors), reasoning tokens"

TRANSCRIPTS = (
    Transcript(
        name="openrouter",
        source=_SOURCE,
        kind="openai",
        protocol="openai",
        body=ANSWER,
        text="こんにちは！ (Konnichiwa) means “hello”.",
        reasoning="The user wants a greeting in Japanese: こんにちは.",
        usage=(42, 57),
        model=MODEL,
        base_path="/api/v1",
        path="/api/v1/chat/completions",
        checks=(*OPENAI_CHECKS, model_is(MODEL)),
    ),
    Transcript(
        name="openrouter_error",
        source=_SOURCE,
        kind="openai",
        protocol="openai",
        body=MID_STREAM_ERROR,
        text="Première partie de la réponse…",
        final="error",
        error_code="upstream_error",
        finish=None,
        model="openai/gpt-4o",
        base_path="/api/v1",
        path="/api/v1/chat/completions",
        checks=(*OPENAI_CHECKS, model_is("openai/gpt-4o")),
    ),
)
