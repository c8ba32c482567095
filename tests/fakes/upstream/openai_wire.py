"""OpenAI-compatible protocol: ``POST /v1/chat/completions`` (also without ``/v1``) and the
model list of ``GET /v1/models``; DeepSeek's thinking mode, ``n`` > 1, ``logprobs`` and
function calls in OpenAI's shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.upstream.protocol import Exchange, WireProtocol
from tests.fakes.upstream.records import Json
from tests.fakes.upstream.wire import sse_data

__all__ = ["DEEPSEEK_REASONING_SENT_BACK", "OPENAI", "OpenAIWire"]

# DeepSeek's answer to a request whose history carries ``reasoning_content`` (deepseek-reasoner;
# wording as recorded in the Berkeley Function Calling Leaderboard's DeepSeek handler, rule from
# api-docs.deepseek.com "Reasoning Model (deepseek-reasoner)": "if the reasoning_content field is
# included in the sequence of input messages, the API will return a 400 error").
DEEPSEEK_REASONING_SENT_BACK = (
    "The reasoning_content is an intermediate result for display purposes only and will not be "
    "included in the context for inference. Please remove the reasoning_content from your "
    "message to reduce network traffic."
)


def _tool_problem(messages: list[Any]) -> str:
    """As OpenAI answers a `tool` message that answers no earlier call (400)."""
    called: set[str] = set()
    for message in messages:
        if not isinstance(message, dict):
            return "messages: each message must be an object"
        for call in message.get("tool_calls") or ():
            called.add(str(call.get("id")))
        if message.get("role") == "tool" and message.get("tool_call_id") not in called:
            return (
                "Invalid parameter: messages with role 'tool' must be a response to a "
                "preceeding message with 'tool_calls'."
            )
    return ""


class OpenAIWire(WireProtocol):
    """OpenAI's Chat Completions (and every service that copies it)."""

    name = "openai"
    _errors: ClassVar[dict[int, tuple[str, str | None]]] = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("invalid_request_error", "unsupported_country_region_territory"),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }
    _messages: ClassVar[dict[int, str]] = {
        401: "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        429: "Rate limit reached for requests. Please try again in 1s.",
        500: "The server had an error while processing your request. Sorry about that!",
        503: "The engine is currently overloaded, please try again later.",
    }

    def error(self, status: int, kind: str) -> Json:
        etype, code = self._errors.get(status, ("server_error", None))
        message = kind or self._messages.get(status, f"Upstream error {status}")
        return {"error": {"message": message, "type": etype, "param": None, "code": code}}

    def check_messages(self, body: dict[str, Any], messages: list[Any]) -> str:
        return _tool_problem(messages)

    def model_list(self, models: Sequence[str]) -> Json:
        return {
            "object": "list",
            "data": [
                {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for model in models
            ],
        }

    def _chunk(self, ex: Exchange, choices: list[Json], **extra: Any) -> list[str]:
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{ex.id}",
            "object": "chat.completion.chunk",
            "created": ex.created,
            "model": ex.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if ex.include_usage:
            payload["usage"] = None
        payload.update(extra)
        return [sse_data(payload)]

    def start_events(self, ex: Exchange) -> list[list[str]]:
        if ex.tokens:
            return []
        # An empty reply still announces the role.
        delta = {"role": "assistant", "content": ""}
        return [self._chunk(ex, [{"index": 0, "delta": delta, "finish_reason": None}])]

    def token_event(self, ex: Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        delta: dict[str, Any] = {"content": token}
        if ex.reasoning:  # DeepSeek: the role came with the reasoning; the other field is null
            delta = {"content": token, "reasoning_content": None}
        elif not ex.sent:
            delta = {"role": "assistant", "content": token}
        logprobs = None
        if ex.body.get("logprobs"):
            logprobs = {"content": [self.logprob(ex, token, len(ex.sent))], "refusal": None}
        choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": None}
        others = [
            {
                "index": i,
                "delta": {"content": (f"({i}) " if not ex.sent else "") + token},
                "logprobs": None,
                "finish_reason": None,
            }
            for i in range(1, self.choices(ex))
        ]
        return self._chunk(ex, [choice, *others], **extra)

    @staticmethod
    def choices(ex: Exchange) -> int:
        n = ex.body.get("n")
        return n if isinstance(n, int) and n > 1 else 1

    @staticmethod
    def logprob(ex: Exchange, token: str, position: int) -> Json:
        """With ``logprobs``: token ``n`` has log-probability ``-(n + 1) / 100`` and
        ``top_logprobs`` alternatives (itself, then ``"alt1"``, ``"alt2"``, …)."""
        value = -(position + 1) / 100

        def entry(text: str, logprob: float) -> Json:
            return {"token": text, "logprob": logprob, "bytes": list(text.encode())}

        top = int(ex.body.get("top_logprobs") or 0)
        alternatives = [entry(token, value)] + [entry(f"alt{i}", value - i) for i in range(1, top)]
        return {**entry(token, value), "top_logprobs": alternatives[:top]}

    def usage(self, ex: Exchange) -> Json:
        completion = len(ex.sent) * self.choices(ex) + len(ex.reasoning) + ex.call_tokens
        prompt = ex.record.prompt_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if ex.reasoning:  # DeepSeek's shape
            usage["prompt_tokens_details"] = {"cached_tokens": 0}
            usage["completion_tokens_details"] = {"reasoning_tokens": len(ex.reasoning)}
            usage["prompt_cache_hit_tokens"] = 0
            usage["prompt_cache_miss_tokens"] = prompt
        return usage

    def reasoning_events(self, ex: Exchange, tokens: Sequence[str]) -> list[list[str]]:
        """DeepSeek: a role chunk with empty reasoning, then one chunk per reasoning token."""
        first = {"role": "assistant", "content": None, "reasoning_content": ""}
        events = [self._chunk(ex, [{"index": 0, "delta": first, "finish_reason": None}])]
        for token in tokens:
            delta = {"content": None, "reasoning_content": token}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            events.append(self._chunk(ex, [choice]))
        return events

    def tool_events(self, ex: Exchange) -> list[list[str]]:
        """Each call: index, id, type and name with empty arguments, then argument pieces."""
        events = []
        for index, call in enumerate(ex.calls):
            first: dict[str, Any] = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            delta: dict[str, Any] = {"tool_calls": [first]}
            if index == 0 and not ex.sent:
                delta = {"role": "assistant", "content": None, "tool_calls": [first]}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            events.append(self._chunk(ex, [choice]))
            for piece in ex.pieces(call["arguments"]):
                more = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                choice = {"index": 0, "delta": more, "logprobs": None, "finish_reason": None}
                events.append(self._chunk(ex, [choice]))
        return events

    def finish_reason(self, ex: Exchange) -> str:
        return "length" if ex.finish_length else ("tool_calls" if ex.calls else "stop")

    def end_events(self, ex: Exchange) -> list[list[str]]:
        finish = self.finish_reason(ex)
        events = self.tool_events(ex)
        ends = [{"index": i, "delta": {}, "finish_reason": finish} for i in range(self.choices(ex))]
        events.append(self._chunk(ex, ends))
        if ex.include_usage:
            events.append(self._chunk(ex, [], usage=self.usage(ex)))
        return events

    def error_event(self, ex: Exchange) -> list[str]:
        return [sse_data(self.error(500, ""))]

    def empty_choices_event(self, ex: Exchange) -> list[str] | None:
        return self._chunk(
            ex,
            [],
            prompt_filter_results=[
                {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}
            ],
        )

    def complete(self, ex: Exchange) -> Json:
        return {
            "id": f"chatcmpl-{ex.id}",
            "object": "chat.completion",
            "created": ex.created,
            "model": ex.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": ex.text_so_far or (None if ex.calls else ""),
                        "refusal": None,
                        **({"reasoning_content": "".join(ex.reasoning)} if ex.reasoning else {}),
                        **(
                            {
                                "tool_calls": [
                                    {
                                        "id": call["id"],
                                        "type": "function",
                                        "function": {
                                            "name": call["name"],
                                            "arguments": call["arguments"],
                                        },
                                    }
                                    for call in ex.calls
                                ]
                            }
                            if ex.calls
                            else {}
                        ),
                    },
                    "logprobs": {
                        "content": [self.logprob(ex, t, i) for i, t in enumerate(ex.sent)],
                        "refusal": None,
                    }
                    if ex.body.get("logprobs")
                    else None,
                    "finish_reason": self.finish_reason(ex),
                }
            ],
            "usage": self.usage(ex),
        }


OPENAI = OpenAIWire()
