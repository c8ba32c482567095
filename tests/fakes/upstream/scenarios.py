"""The fake's scenarios: what each one does on the wire, and its default parameters.

``FakeUpstream.set_scenario(name, **params)`` sets the default; ``queue(*names)`` adds one-shot
scenarios consumed in order (by generation requests only: ``/v1/models`` has its own
``set_models_scenario``). They are played by :mod:`tests.fakes.upstream.replies`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCENARIOS", "Scenario"]

# name -> default parameters (every scenario also accepts ``token_delay``, seconds before each
# token; default: the fake's ``token_delay``).
#   normal                    the reply, token by token
#   slow                      token_delay defaults to 0.2 s
#   long_pause                pause ``pause`` s before token number ``after_tokens`` (0-based)
#   stall_before_first_token  headers at once, then nothing for ``seconds``, then the reply
#   hang                      read the request, never answer (until the client leaves)
#   rate_limited              ``status`` (429) + ``Retry-After: retry_after`` (None: no header)
#   server_error              JSON error with ``status`` (500; Anthropic 529 = overloaded_error)
#   auth_error                401 in the provider's shape
#   insufficient_quota        OpenAI's 429 for an account out of credit (``insufficient_quota``):
#                             a refusal that waiting does not cure, unlike a rate limit
#   echo_key                  ``status`` (401) with an OpenAI/Groq-style JSON error whose message
#                             echoes the key it received: ``Incorrect API key provided: <key>``
#                             (the ``x-api-key`` value, else the ``Authorization`` bearer value)
#   html_error                ``<!DOCTYPE html>`` "Bad gateway" page with ``status`` (502; 200 ok)
#   cloudflare_challenge      Cloudflare "Just a moment..." page, ``status`` 403, cf-mitigated
#   reset_mid_stream          ``after_tokens`` tokens, then TCP RST (non-stream: half the body)
#   error_mid_stream          ``after_tokens`` tokens, then the provider's in-stream error event
#                             and a clean end without [DONE] (non-stream: 500)
#   malformed_crlf            every SSE line ends in CRLF
#   malformed_comments        ``: keep-alive`` comments, blank lines, ``event: message``,
#                             ``id:`` and ``retry:`` lines interleaved
#   split_bytes               every event written as pieces of ``chunk_sizes`` bytes, one HTTP
#                             chunk + ``write_delay`` s each, always cut inside ``data:`` and
#                             inside every multi-byte UTF-8 character (see split_for_wire)
#   missing_done              clean end without ``data: [DONE]`` (Anthropic: no message_stop)
#   double_done               the terminating event twice
#   invalid_json_line         one truncated-JSON ``data:`` line before token ``after_tokens``
#   empty_choices             OpenAI: a ``"choices": []`` chunk before every token (no-op else)
#   huge_line                 the first token's event padded to > ``size`` bytes on one line
#                             (an extra top-level ``x_padding`` field; the text is unchanged)
#   deepseek_reasoning        OpenAI protocol, DeepSeek's thinking mode: ``reasoning_content``
#                             deltas (``reasoning`` split like the reply) before the ``content``
#                             deltas; 400 ``invalid_request_error`` with DeepSeek's wording when
#                             any request message carries ``reasoning_content`` (the reasoning
#                             must not be sent back); usage counts the reasoning tokens in
#                             ``completion_tokens`` and ``completion_tokens_details``.
#                             Other protocols: like ``normal``.
#   (any scenario, OpenAI) a streamed request with ``n`` > 1 gets every chunk with all ``n``
#                             choices:
#                             choice ``i`` > 0 writes ``f"({i}) "`` before each token of the
#                             first (so its text is ``f"({i}) "`` + the reply); every token of
#                             every choice counts in ``completion_tokens``
#   (any scenario, OpenAI) a request with ``logprobs: true`` gets ``choices[].logprobs.content``
#                             for every token (see ``OpenAIWire.logprob``), ``top_logprobs`` long
#   tool_calls                answer with function calls: ``text`` (default "") first, then each
#                             of ``calls`` (``{"id", "name", "arguments"}``, arguments as JSON
#                             text) — OpenAI: a chunk with index, id, type, name and empty
#                             arguments, then chunks of only index + ``piece``-character argument
#                             pieces, ``finish_reason: "tool_calls"``; Anthropic: one
#                             ``tool_use`` block per call (``content_block_start`` with id, name
#                             and ``input: {}``, ``input_json_delta`` pieces of ``partial_json``,
#                             ``content_block_stop``) and ``stop_reason: "tool_use"``. Every
#                             argument piece counts as one completion token. Non-stream replies
#                             carry ``message.tool_calls`` / ``tool_use`` blocks.
#   dialect                   replay the recorded transcript ``name`` of
#                             :mod:`tests.fakes.dialects` (any protocol path; also Azure's
#                             ``/openai/deployments/<d>/chat/completions`` and other paths ending
#                             in ``/chat/completions``): first the transcript's request checks
#                             (the service's own 4xx answer when ChatGate's request is not what it
#                             accepts), then its status, headers and body, one HTTP chunk per SSE
#                             event, or with ``chunk_sizes`` cut as ``split_bytes`` does (inside
#                             ``data:`` and inside every multi-byte character), ``write_delay`` s
#                             between chunks
SCENARIOS: dict[str, dict[str, Any]] = {
    "normal": {},
    "slow": {"token_delay": 0.2},
    "long_pause": {"after_tokens": 2, "pause": 2.0},
    "stall_before_first_token": {"seconds": 5.0},
    "hang": {},
    "rate_limited": {"retry_after": 1, "status": 429},
    "server_error": {"status": 500},
    "auth_error": {"status": 401},
    "insufficient_quota": {},
    "echo_key": {"status": 401},
    "html_error": {"status": 502},
    "cloudflare_challenge": {"status": 403},
    "reset_mid_stream": {"after_tokens": 3},
    "error_mid_stream": {"after_tokens": 3},
    "malformed_crlf": {},
    "malformed_comments": {},
    "split_bytes": {"chunk_sizes": (1, 2, 3, 5, 8), "write_delay": 0.001},
    "missing_done": {},
    "double_done": {},
    "invalid_json_line": {"after_tokens": 1},
    "empty_choices": {},
    "huge_line": {"size": 1 << 20},
    "deepseek_reasoning": {"reasoning": "Compare 9.8 and 9.11: 9.80 > 9.11. 思考 🤔 done."},
    "tool_calls": {"calls": (), "text": "", "piece": 5},
    "dialect": {"name": "openai", "chunk_sizes": (), "write_delay": 0.0},
}


class Scenario:
    """A scenario name with its parameters (defaults from :data:`SCENARIOS` filled in)."""

    __slots__ = ("name", "params")

    def __init__(self, name: str, /, **params: Any) -> None:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        unknown = set(params) - set(SCENARIOS[name]) - {"token_delay"}
        if unknown:
            raise ValueError(f"scenario {name!r} takes no parameter(s) {sorted(unknown)}")
        self.name = name
        self.params: dict[str, Any] = {**SCENARIOS[name], **params}

    @classmethod
    def coerce(cls, value: str | Scenario | dict[str, Any]) -> Scenario:
        if isinstance(value, Scenario):
            return value
        if isinstance(value, str):
            return cls(value)
        params = dict(value)
        return cls(str(params.pop("name")), **params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Scenario({self.name!r}{args})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Scenario) and self.name == other.name and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]
