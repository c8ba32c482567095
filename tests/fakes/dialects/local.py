"""Self-hosted OpenAI-compatible servers: Ollama ``/v1``, vLLM, llama.cpp server, LM Studio.

Sources (facts only):
* Ollama, ``docs/openai.md`` ("OpenAI compatibility"; base URL ``http://localhost:11434/v1``, the
  API key is required by clients but ignored, ``stream_options.include_usage`` supported) and
  recorded ``/v1`` streams (ollama users' logs and test fixtures, e.g. in llxprt and rust
  proxies): ``system_fingerprint: "fp_ollama"``, ``"role": "assistant"`` in every delta, a
  finish chunk with ``"content": ""``, the usage chunk with ``"choices": []``; thinking models
  stream ``delta.reasoning``. Ollama is written in Go, whose JSON encoder escapes ``<``, ``>``
  and ``&`` as ``\\u003c``, ``\\u003e``, ``\\u0026``.
* vLLM docs, "Reasoning Outputs" (``--reasoning-parser``: ``delta.reasoning_content``, renamed
  ``reasoning`` in later releases) and ``vllm/entrypoints/openai/protocol.py`` (chunks with
  ``logprobs: null``; ``stop_reason`` beside ``finish_reason``; with ``include_usage`` a last
  chunk with ``"choices": []`` and ``prompt_tokens_details: null``); ``--api-key`` checks Bearer.
* llama.cpp ``tools/server/README.md`` and ``tools/server/tests/unit/test_chat_completion.py``:
  ``--reasoning-format deepseek`` streams thoughts as ``delta.reasoning_content``; the first
  delta is ``{"content": null, "role": "assistant"}``; keys sorted; ``system_fingerprint``
  is the build (``b6xxx-<commit>``); the usage chunk (``"choices": []``) also carries
  ``timings``.
* LM Studio docs, "OpenAI Compatibility Endpoints" (``http://localhost:1234/v1``) and the 0.3.9
  release notes (R1-style models' thoughts in a separate ``reasoning_content`` field); chunks
  with ``system_fingerprint`` = the model id; this recording is of a version that sends no
  usage even when asked, so ChatGate has to estimate it.
"""

from __future__ import annotations

from tests.fakes.dialects import (
    OPENAI_CHECKS,
    Transcript,
    asks_for_usage,
    model_is,
    plain_history,
    sse,
    streams,
)

OLLAMA = sse(r"""
data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1767226000,"model":"qwen3:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Okay, HTML escaping: "},"finish_reason":null}]}

data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1767226000,"model":"qwen3:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"\u003cb\u003e needs \u0026lt;b\u0026gt;."},"finish_reason":null}]}

data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1767226000,"model":"qwen3:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Use \u003ccode\u003e\u0026lt;b\u0026gt;\u003c/code\u003e"},"finish_reason":null}]}

data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1767226000,"model":"qwen3:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":" — it shows \u003cb\u003e literally. ✅"},"finish_reason":null}]}

data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1767226000,"model":"qwen3:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}

data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1767226000,"model":"qwen3:8b","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":27,"completion_tokens":41,"total_tokens":68}}

data: [DONE]

""")

VLLM = sse(r"""
data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":"Primzahlen unter 10"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":": 2, 3, 5, 7 — vier Stück.\n"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":"\n\nEs gibt vier: 2, 3, 5 und 7."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":" Größte: 7."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}

data: {"id":"chatcmpl-b2f6c0e1a4d94f0c8e7a","object":"chat.completion.chunk","created":1767226100,"model":"Qwen/Qwen3-8B","choices":[],"usage":{"prompt_tokens":19,"total_tokens":52,"completion_tokens":33,"prompt_tokens_details":null}}

data: [DONE]

""")

LLAMA_CPP = sse(r"""
data: {"choices":[{"delta":{"content":null,"role":"assistant"},"finish_reason":null,"index":0}],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4"}

data: {"choices":[{"delta":{"reasoning_content":"¿Capital de España?"},"finish_reason":null,"index":0}],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4"}

data: {"choices":[{"delta":{"reasoning_content":" Madrid."},"finish_reason":null,"index":0}],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4"}

data: {"choices":[{"delta":{"content":"La capital de España es"},"finish_reason":null,"index":0}],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4"}

data: {"choices":[{"delta":{"content":" **Madrid** 🇪🇸."},"finish_reason":null,"index":0}],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4"}

data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4"}

data: {"choices":[],"created":1767226200,"id":"chatcmpl-Lc9sXq2mVb0RkT4nY8aE1hZ6","model":"gpt-3.5-turbo","object":"chat.completion.chunk","system_fingerprint":"b6123-a1b2c3d4","timings":{"cache_n":0,"prompt_n":21,"prompt_ms":88.4,"prompt_per_token_ms":4.21,"prompt_per_second":237.6,"predicted_n":24,"predicted_ms":402.7,"predicted_per_token_ms":16.78,"predicted_per_second":59.6},"usage":{"completion_tokens":24,"prompt_tokens":21,"total_tokens":45}}

data: [DONE]

""")

LM_STUDIO = sse(r"""
data: {"id":"chatcmpl-7l2bq9x0w4h1k3m5n8p","object":"chat.completion.chunk","created":1767226300,"model":"deepseek-r1-distill-qwen-7b","system_fingerprint":"deepseek-r1-distill-qwen-7b","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Ok, "},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7l2bq9x0w4h1k3m5n8p","object":"chat.completion.chunk","created":1767226300,"model":"deepseek-r1-distill-qwen-7b","system_fingerprint":"deepseek-r1-distill-qwen-7b","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"count the letters: s-t-r-a-w-b-e-r-r-y."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7l2bq9x0w4h1k3m5n8p","object":"chat.completion.chunk","created":1767226300,"model":"deepseek-r1-distill-qwen-7b","system_fingerprint":"deepseek-r1-distill-qwen-7b","choices":[{"index":0,"delta":{"role":"assistant","content":"There are **3** “r”s"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7l2bq9x0w4h1k3m5n8p","object":"chat.completion.chunk","created":1767226300,"model":"deepseek-r1-distill-qwen-7b","system_fingerprint":"deepseek-r1-distill-qwen-7b","choices":[{"index":0,"delta":{"role":"assistant","content":" in “strawberry” 🍓."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7l2bq9x0w4h1k3m5n8p","object":"chat.completion.chunk","created":1767226300,"model":"deepseek-r1-distill-qwen-7b","system_fingerprint":"deepseek-r1-distill-qwen-7b","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

""")

TRANSCRIPTS = (
    Transcript(
        name="ollama",
        source="Ollama docs/openai.md; recorded Ollama /v1 streams",
        kind="openai",
        protocol="openai",
        body=OLLAMA,
        text="Use <code>&lt;b&gt;</code> — it shows <b> literally. ✅",
        reasoning="Okay, HTML escaping: <b> needs &lt;b&gt;.",
        usage=(27, 41),
        model="qwen3:8b",
        checks=(streams, asks_for_usage, plain_history, model_is("qwen3:8b")),
    ),
    Transcript(
        name="vllm",
        source="vLLM docs (reasoning outputs); vllm/entrypoints/openai/protocol.py",
        kind="openai",
        protocol="openai",
        body=VLLM,
        text="\n\nEs gibt vier: 2, 3, 5 und 7. Größte: 7.",
        reasoning="Primzahlen unter 10: 2, 3, 5, 7 — vier Stück.\n",
        usage=(19, 33),
        model="Qwen/Qwen3-8B",
        checks=(*OPENAI_CHECKS, model_is("Qwen/Qwen3-8B")),
    ),
    Transcript(
        name="llamacpp",
        source="llama.cpp tools/server README and unit tests",
        kind="openai",
        protocol="openai",
        body=LLAMA_CPP,
        text="La capital de España es **Madrid** 🇪🇸.",
        reasoning="¿Capital de España? Madrid.",
        usage=(21, 24),
        model="local-gguf",
        checks=OPENAI_CHECKS,  # llama-server serves whatever model it loaded, by any name
    ),
    Transcript(
        name="lmstudio",
        source="LM Studio docs (OpenAI compatibility endpoints), 0.3.9 release notes",
        kind="openai",
        protocol="openai",
        body=LM_STUDIO,
        text="There are **3** “r”s in “strawberry” 🍓.",
        reasoning="Ok, count the letters: s-t-r-a-w-b-e-r-r-y.",
        model="deepseek-r1-distill-qwen-7b",
        checks=(streams, plain_history, model_is("deepseek-r1-distill-qwen-7b")),
    ),
)
