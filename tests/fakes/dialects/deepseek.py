"""DeepSeek (``deepseek-reasoner``, thinking mode), OpenAI-compatible, streamed.

Sources (facts only):
* api-docs.deepseek.com, "Reasoning Model (deepseek-reasoner)": ``reasoning_content`` is at the
  same level as ``content``; in the next round the previous reasoning is not part of the
  context, and "if the reasoning_content field is included in the sequence of input messages,
  the API will return a 400 error". The base URL has no ``/v1``: ``https://api.deepseek.com``.
  (The later "Thinking Mode" guide relaxes this for V4 models, which ignore it between two user
  turns and require it back only around tool calls; ChatGate never sends it, which suits both.)
* api-docs.deepseek.com, rate limit / FAQ: while a request waits to be scheduled, a streaming
  request keeps receiving SSE keep-alive comments (``: keep-alive``).
* The 400 body as recorded in the Berkeley Function Calling Leaderboard's DeepSeek handler
  (``{"error": {"message": "The reasoning_content is an intermediate result for display
  purposes only ...", "type": "invalid_request_error", "param": null, "code":
  "invalid_request_error"}}``).
* Recorded streams (opensolon/solon ``DeepSeek.md``, agentscope-nextjs example): the first
  chunk is ``{"role": "assistant", "content": null, "reasoning_content": ""}``, then reasoning
  chunks with ``"content": null``, then answer chunks with ``"reasoning_content": null``; usage
  with ``prompt_cache_hit_tokens``, ``prompt_cache_miss_tokens`` and
  ``completion_tokens_details.reasoning_tokens`` (counted inside ``completion_tokens``).
"""

from __future__ import annotations

from tests.fakes.dialects import (
    Refusal,
    Seen,
    Transcript,
    asks_for_usage,
    bearer_key,
    model_is,
    plain_history,
    sse,
    streams,
)

MODEL = "deepseek-reasoner"

REASONING_SENT_BACK = (
    "The reasoning_content is an intermediate result for display purposes only and will not be "
    "included in the context for inference. Please remove the reasoning_content from your "
    "message to reduce network traffic."
)


def no_reasoning_sent_back(seen: Seen) -> Refusal | None:
    messages = seen.body.get("messages")
    if isinstance(messages, list) and any(
        isinstance(m, dict) and "reasoning_content" in m for m in messages
    ):
        error = {
            "message": REASONING_SENT_BACK,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request_error",
        }
        return 400, {"error": error}
    return None


ANSWER = sse(r"""
: keep-alive

: keep-alive

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"嗯，用户问"},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":null,"reasoning_content":" 9.11 和 9.8 哪个大。"},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"\nCompare: 9.80 > 9.11"},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":null,"reasoning_content":", so 9.8 is larger."},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":"**9.8**","reasoning_content":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":" is larger than 9.11 (9.80 > 9.11). 😊","reasoning_content":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"7c0e3f52-8a0b-4f5e-9d8e-2f6b1a9c3d41","object":"chat.completion.chunk","created":1767225800,"model":"deepseek-reasoner","system_fingerprint":"fp_7e73fd9a08","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":16,"completion_tokens":48,"total_tokens":64,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":31},"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":16}}

data: [DONE]

""")

TRANSCRIPTS = (
    Transcript(
        name="deepseek",
        source="api-docs.deepseek.com (reasoning model, keep-alive); recorded DeepSeek streams",
        kind="openai",
        protocol="openai",
        body=ANSWER,
        text="**9.8** is larger than 9.11 (9.80 > 9.11). 😊",
        reasoning="嗯，用户问 9.11 和 9.8 哪个大。\nCompare: 9.80 > 9.11, so 9.8 is larger.",
        usage=(16, 48),
        model=MODEL,
        base_path="",
        path="/chat/completions",
        checks=(
            bearer_key,
            no_reasoning_sent_back,
            streams,
            asks_for_usage,
            plain_history,
            model_is(MODEL),
        ),
    ),
)
