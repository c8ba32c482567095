"""Chat protocols as real services speak them: recorded byte transcripts, one per situation.

Each :class:`Transcript` is what one service sends back for one chat request, byte for byte
(written by hand from the service's public API reference and from the recorded fixtures in
well-known client libraries' test suites; every module names its sources at the top), plus
what a correct client makes of it: the answer text, the reasoning kept apart, the final status
and error code, the finish reason and the usage the service reported. It also carries the
request shape the service insists on (path, query, auth header, body fields it refuses):
``refuse(seen)`` answers like the service would when ChatGate sends something it would
refuse, so a conformance test also proves the request.

Facts carry over from the sources; no code does. Ids, timestamps and fingerprints are invented
in the sources' formats.

Used by the fake upstream's ``dialect`` scenario (replay on a real socket) and by the
socket-free adapter specs (``tests/providers/test_adapters.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = [
    "API_KEY",
    "DIALECTS",
    "Check",
    "Refusal",
    "Seen",
    "Transcript",
    "events_of",
    "params",
    "sse",
]

Json = Any
Refusal = tuple[int, Json]  # HTTP status, JSON body

# The credential every conformance provider is configured with (checked by the transcripts).
API_KEY = "conformance-key-7f3a9c"


@dataclass(frozen=True)
class Seen:
    """The request as the service saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    json: Json

    @classmethod
    def of(cls, method: str, path: str, query: str, headers: dict[str, str], body: Json) -> Seen:
        lowered = {name.lower(): value for name, value in headers.items()}
        return cls(method, path, parse_qs(query), lowered, body)

    @property
    def body(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}


Check = Callable[[Seen], Refusal | None]


@dataclass(frozen=True)
class Transcript:
    """One recorded answer of one service, and what a correct client makes of it."""

    name: str
    source: str  # where the facts come from (also in the module's header)
    kind: str  # the ChatGate provider kind that talks to this service
    protocol: str  # "openai" | "anthropic" | "chatgpt_web": which reader reads it
    body: bytes  # the response body as the service sends it
    text: str  # the answer, exactly (for an error: what arrived before it)
    reasoning: str = ""  # the reasoning, exactly, kept apart from the text
    final: str = "complete"  # the stored message's status
    error_code: str | None = None  # ChatGate's error code when final == "error"
    finish: str | None = "stop"  # the finish reason the reader reports (None: it raises)
    usage: tuple[int, int] | None = None  # (prompt, completion) as reported; None: not reported
    model: str = "conformance-model"  # the upstream model name ChatGate must send
    base_path: str = "/v1"  # appended to the server's URL: the provider's base_url
    path: str = "/v1/chat/completions"  # where the service answers
    provider: dict[str, Any] = field(default_factory=dict)  # more provider settings
    checks: tuple[Check, ...] = ()
    http_status: int = 200
    headers: tuple[tuple[str, str], ...] = (
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
    )
    # Set while ChatGate is known to get this transcript wrong: what is wrong, for the tests'
    # strict xfail (which fails as soon as it is right, so the mark cannot outlive the fix).
    known_gap: str = ""

    def refuse(self, seen: Seen) -> Refusal | None:
        """The service's answer to a request it would not serve; None when it would."""
        if seen.method != "POST" or seen.path != self.path:
            return 404, {"error": {"message": f"no route {seen.method} {seen.path}"}}
        for check in self.checks:
            refusal = check(seen)
            if refusal is not None:
                return refusal
        return None

    def events(self) -> list[bytes]:
        """The body cut where the service flushes: after each event's blank line."""
        return events_of(self.body)


def sse(text: str) -> bytes:
    """A transcript written as text: one line per SSE line, a blank line after each event.

    Write it as a raw string, so JSON escapes (``\\n``, ``\\u00e9``) stay escapes on the wire.
    """
    return text.removeprefix("\n").encode("utf-8")


def events_of(body: bytes) -> list[bytes]:
    pieces: list[bytes] = []
    start = 0
    while start < len(body):
        end = body.find(b"\n\n", start)
        end = len(body) if end < 0 else end + 2
        pieces.append(body[start:end])
        start = end
    return pieces


# -- checks shared by several services ------------------------------------------------------------
def openai_error(status: int, message: str, kind: str, code: str | None = None) -> Refusal:
    return status, {"error": {"message": message, "type": kind, "param": None, "code": code}}


def bearer_key(seen: Seen) -> Refusal | None:
    """OpenAI and most compatible servers: ``Authorization: Bearer <key>``."""
    if seen.headers.get("authorization") != f"Bearer {API_KEY}":
        return openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
        )
    return None


def streams(seen: Seen) -> Refusal | None:
    if seen.body.get("stream") is not True:
        return openai_error(
            400,
            "(conformance) this transcript is a stream: send stream=true",
            "invalid_request_error",
        )
    return None


def asks_for_usage(seen: Seen) -> Refusal | None:
    """The usage chunk is only sent when the client asks for it (OpenAI's rule)."""
    options = seen.body.get("stream_options")
    if not (isinstance(options, dict) and options.get("include_usage") is True):
        return openai_error(
            400,
            "(conformance) this transcript ends with a usage chunk, which the service only "
            "sends with stream_options.include_usage=true",
            "invalid_request_error",
        )
    return None


def model_is(name: str) -> Check:
    def check(seen: Seen) -> Refusal | None:
        if seen.body.get("model") != name:
            return openai_error(
                404,
                f"The model `{seen.body.get('model')}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        return None

    return check


def plain_history(seen: Seen) -> Refusal | None:
    """Every message is ``{role, content}`` with text content: nothing a service may refuse."""
    messages = seen.body.get("messages")
    if not isinstance(messages, list) or not messages:
        return openai_error(400, "'messages' must be a non-empty array", "invalid_request_error")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            extra = sorted(set(message) - {"role", "content"}) if isinstance(message, dict) else []
            return openai_error(
                400,
                f"(conformance) messages[{index}] carries fields {extra}: only role and content",
                "invalid_request_error",
            )
    return None


OPENAI_CHECKS: tuple[Check, ...] = (bearer_key, streams, asks_for_usage, plain_history)


def _registry() -> dict[str, Transcript]:
    from tests.fakes.dialects import (
        anthropic,
        azure,
        chatgpt_web,
        deepseek,
        gemini,
        groq,
        local,
        mistral,
        openai,
        openrouter,
    )

    found: dict[str, Transcript] = {}
    for module in (
        openai,
        azure,
        deepseek,
        openrouter,
        local,
        gemini,
        mistral,
        groq,
        anthropic,
        chatgpt_web,
    ):
        for transcript in module.TRANSCRIPTS:
            if transcript.name in found:
                raise ValueError(f"two transcripts named {transcript.name!r}")
            found[transcript.name] = transcript
    return found


DIALECTS: dict[str, Transcript] = _registry()


def params(names: Iterable[str] | None = None, *, run_gaps: bool = True) -> list[Any]:
    """Transcript names as pytest params, a known gap marked as a strict xfail (not even run
    with ``run_gaps=False``: through the whole server a gap may cost a timeout)."""
    import pytest

    chosen = sorted(DIALECTS) if names is None else list(names)
    return [
        pytest.param(
            name,
            marks=pytest.mark.xfail(reason=DIALECTS[name].known_gap, strict=True, run=run_gaps)
            if DIALECTS[name].known_gap
            else (),
        )
        for name in chosen
    ]
