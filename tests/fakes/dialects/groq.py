"""Groq (``api.groq.com/openai/v1``), OpenAI-compatible, streamed.

Sources (facts only):
* console.groq.com/docs (OpenAI compatibility: base URL ``https://api.groq.com/openai/v1``,
  Bearer auth; "Reasoning": with ``reasoning_format: "parsed"``, and by default for the
  ``openai/gpt-oss-*`` models, thoughts come in ``message.reasoning`` / ``delta.reasoning``).
* The Vercel AI SDK's ``packages/groq/src/groq-chat-language-model.test.ts`` (recorded
  streams): ``x_groq: {"id": "req_..."}`` on chunks, and the usage of a stream in
  ``x_groq.usage`` of the last chunk (``queue_time``, ``prompt_tokens``, ``prompt_time``,
  ``completion_tokens``, ``completion_time``, ``total_tokens``, ``total_time``), not in a
  top-level ``usage``.
"""

from __future__ import annotations

from tests.fakes.dialects import Transcript, bearer_key, model_is, plain_history, sse, streams

MODEL = "openai/gpt-oss-20b"

ANSWER = sse(r"""
data: {"id":"chatcmpl-5e0c2a8f-91d4-4b7e-a3c6-0f2d8e1b7a49","object":"chat.completion.chunk","created":1767226600,"model":"openai/gpt-oss-20b","system_fingerprint":"fp_e99e93f2ac","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":"req_01k2m9v7e4fz8s3q6w1y5t0h2j"}}

data: {"id":"chatcmpl-5e0c2a8f-91d4-4b7e-a3c6-0f2d8e1b7a49","object":"chat.completion.chunk","created":1767226600,"model":"openai/gpt-oss-20b","system_fingerprint":"fp_e99e93f2ac","choices":[{"index":0,"delta":{"reasoning":"User asks 2+2."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-5e0c2a8f-91d4-4b7e-a3c6-0f2d8e1b7a49","object":"chat.completion.chunk","created":1767226600,"model":"openai/gpt-oss-20b","system_fingerprint":"fp_e99e93f2ac","choices":[{"index":0,"delta":{"reasoning":" Answer: 4."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-5e0c2a8f-91d4-4b7e-a3c6-0f2d8e1b7a49","object":"chat.completion.chunk","created":1767226600,"model":"openai/gpt-oss-20b","system_fingerprint":"fp_e99e93f2ac","choices":[{"index":0,"delta":{"content":"2 + 2 = **4**"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-5e0c2a8f-91d4-4b7e-a3c6-0f2d8e1b7a49","object":"chat.completion.chunk","created":1767226600,"model":"openai/gpt-oss-20b","system_fingerprint":"fp_e99e93f2ac","choices":[{"index":0,"delta":{"content":" ✔️"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-5e0c2a8f-91d4-4b7e-a3c6-0f2d8e1b7a49","object":"chat.completion.chunk","created":1767226600,"model":"openai/gpt-oss-20b","system_fingerprint":"fp_e99e93f2ac","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_01k2m9v7e4fz8s3q6w1y5t0h2j","usage":{"queue_time":0.061348671,"prompt_tokens":78,"prompt_time":0.004211569,"completion_tokens":29,"completion_time":0.031818181,"total_tokens":107,"total_time":0.03602975}}}

data: [DONE]

""")

TRANSCRIPTS = (
    Transcript(
        name="groq",
        source="console.groq.com docs (reasoning); Vercel AI SDK groq tests",
        kind="openai",
        protocol="openai",
        body=ANSWER,
        text="2 + 2 = **4** ✔️",
        reasoning="User asks 2+2. Answer: 4.",
        usage=(78, 29),
        model=MODEL,
        base_path="/openai/v1",
        path="/openai/v1/chat/completions",
        checks=(bearer_key, streams, plain_history, model_is(MODEL)),
    ),
)
