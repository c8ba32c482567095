"""OpenAI Chat Completions, streamed.

Sources (facts only):
* OpenAI API reference, "The chat completion chunk object" and "Create chat completion"
  (platform.openai.com/docs/api-reference/chat-streaming): ``choices[].delta`` with ``role``,
  ``content`` and ``refusal``; ``finish_reason`` one of ``stop``, ``length``,
  ``content_filter``, ``tool_calls``; with ``stream_options.include_usage`` every chunk carries
  ``"usage": null`` and one last chunk has ``"choices": []`` and the usage of the whole request;
  the stream ends with ``data: [DONE]``. ``stream_options.include_obfuscation`` (on by default)
  adds an ``obfuscation`` field of random length to every chunk.
* openai-python ``tests/lib/chat/test_completions_streaming.py`` (recorded streams): the first
  chunk of a refusal has ``"content": null, "refusal": ""``, then ``refusal`` pieces;
  ``service_tier``, ``system_fingerprint`` and ``logprobs: null`` on every chunk.
"""

from __future__ import annotations

from tests.fakes.dialects import OPENAI_CHECKS, Transcript, model_is, sse

MODEL = "gpt-4o-mini"

ANSWER = sse(r"""
data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Xa9"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"q1Zb2"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":"! Café"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"k"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":" ☕ costs 3 €"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"P0oQ"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":".\n\n你好"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"w2"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":"，世界 🌍 \"quoted\""},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Zt1"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":" and `code`."},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"mm4Y0"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"tT"}

data: {"id":"chatcmpl-CqA1x","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[],"usage":{"prompt_tokens":22,"completion_tokens":17,"total_tokens":39,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"rB1aWv"}

data: [DONE]

""")

REFUSAL = sse(r"""
data: {"id":"chatcmpl-CqA2r","object":"chat.completion.chunk","created":1767225601,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a1"}

data: {"id":"chatcmpl-CqA2r","object":"chat.completion.chunk","created":1767225601,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{"refusal":"I'm"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qx"}

data: {"id":"chatcmpl-CqA2r","object":"chat.completion.chunk","created":1767225601,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{"refusal":" sorry"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"B"}

data: {"id":"chatcmpl-CqA2r","object":"chat.completion.chunk","created":1767225601,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{"refusal":", I can't help with that — désolé."},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"7uW"}

data: {"id":"chatcmpl-CqA2r","object":"chat.completion.chunk","created":1767225601,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"cD"}

data: {"id":"chatcmpl-CqA2r","object":"chat.completion.chunk","created":1767225601,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":12,"total_tokens":43,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"Wq0"}

data: [DONE]

""")

CONTENT_FILTER = sse(r"""
data: {"id":"chatcmpl-CqA3f","object":"chat.completion.chunk","created":1767225602,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"n0"}

data: {"id":"chatcmpl-CqA3f","object":"chat.completion.chunk","created":1767225602,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":"The lyrics begin"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Lm"}

data: {"id":"chatcmpl-CqA3f","object":"chat.completion.chunk","created":1767225602,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":": «"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"e"}

data: {"id":"chatcmpl-CqA3f","object":"chat.completion.chunk","created":1767225602,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"content_filter"}],"usage":null,"obfuscation":"Kk2"}

data: {"id":"chatcmpl-CqA3f","object":"chat.completion.chunk","created":1767225602,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[],"usage":{"prompt_tokens":18,"completion_tokens":5,"total_tokens":23,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"z"}

data: [DONE]

""")

_CHECKS = (*OPENAI_CHECKS, model_is(MODEL))
_SOURCE = "OpenAI API reference (chat completion chunk object); openai-python streaming tests"

TRANSCRIPTS = (
    Transcript(
        name="openai",
        source=_SOURCE,
        kind="openai",
        protocol="openai",
        body=ANSWER,
        text='Hello! Café ☕ costs 3 €.\n\n你好，世界 🌍 "quoted" and `code`.',
        usage=(22, 17),
        model=MODEL,
        checks=_CHECKS,
    ),
    Transcript(
        name="openai_refusal",
        source=_SOURCE,
        kind="openai",
        protocol="openai",
        body=REFUSAL,
        text="I'm sorry, I can't help with that — désolé.",
        usage=(31, 12),
        model=MODEL,
        checks=_CHECKS,
    ),
    Transcript(
        name="openai_content_filter",
        source=_SOURCE,
        kind="openai",
        protocol="openai",
        body=CONTENT_FILTER,
        text="The lyrics begin: «",
        finish="content_filter",
        usage=(18, 5),
        model=MODEL,
        checks=_CHECKS,
    ),
)
