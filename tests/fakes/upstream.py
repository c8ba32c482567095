"""Fake LLM upstream: one raw asyncio HTTP/1.1 server speaking three provider protocols.

Every byte and every pause is under the test's control; each streamed token is written with its
own ``write`` + ``drain`` on a ``TCP_NODELAY`` socket, so it leaves as its own packet.

Protocols (dispatched by path)
------------------------------
* OpenAI-compatible: ``GET /v1/models``, ``POST /v1/chat/completions`` (also without ``/v1``).
* Anthropic Messages: ``POST /v1/messages``; ``GET /v1/models`` answers in Anthropic's shape when
  the request carries ``x-api-key`` or ``anthropic-version``. ``max_tokens`` is required (400
  ``invalid_request_error`` otherwise), as on the real API.
* Ollama's native model list: ``GET /api/tags`` (``models[].name``), for model discovery when a
  server's OpenAI-style ``/v1/models`` is missing.
* ChatGPT web through a reverse proxy (chatgpt-web's accessToken mode):
  ``POST /backend-api/conversation`` (also ``/api/conversation`` and ``/conversation``). Replies
  are cumulative (``message.content.parts[0]`` = whole text so far), one in-flight request per
  access token (a concurrent one gets 429 ``{"detail": BUSY_DETAIL}``) and, with
  ``strict_conversations`` (default), an unknown ``conversation_id`` or a ``parent_message_id``
  that is not a message of that conversation gets 404 ``{"detail": ...}``.

Tokens and usage (tests elsewhere assert exact ledger totals against this rule)
-----------------------------------------------------------------------------
* The reply is split by :func:`split_tokens`: ``re.findall(r"\\s*\\S{1,4}|\\s+\\Z", text)`` -
  optional leading whitespace plus 1-4 non-space code points (a Chinese character or an emoji
  code point is never cut); the concatenation equals the reply exactly. ``reply`` may also be
  an explicit token list, or a callable ``(request_json) -> str | list[str]``.
* ``max_tokens`` (OpenAI: ``max_completion_tokens`` or ``max_tokens``; Anthropic: ``max_tokens``)
  truncates the token list; then ``finish_reason`` is ``"length"`` / ``stop_reason`` is
  ``"max_tokens"`` (ChatGPT web: ``finish_details.type`` ``"max_tokens"``).
* ``prompt_tokens`` (Anthropic ``input_tokens``) = ``C // 4 + 1`` where ``C`` is the number of
  code points (``len()``) of all text in the request: OpenAI every ``messages[].content``
  (string, or the ``text`` of ``{"type": "text"}`` parts); Anthropic ``system`` (string or text
  blocks) plus every ``messages[].content`` (string or text blocks); ChatGPT web every string
  in ``messages[].content.parts``. See :func:`count_prompt_tokens`.
* ``completion_tokens`` (Anthropic ``output_tokens``) = number of tokens actually sent;
  ``total_tokens`` = the sum. OpenAI streams report usage only with
  ``stream_options.include_usage`` (then every chunk carries ``"usage": null`` and a final
  ``"choices": []`` chunk carries the numbers); non-stream replies always carry ``usage``.
  Anthropic's ``message_start`` carries ``input_tokens`` and ``output_tokens: 1`` (as the real
  API does); the final count is in ``message_delta.usage.output_tokens``. ChatGPT web reports
  no usage at all.

Scenarios
---------
``set_scenario(name, **params)`` sets the default; ``queue(*names)`` adds one-shot scenarios
consumed in order (by generation requests only: ``/v1/models`` has its own
``set_models_scenario``). Every scenario also accepts ``token_delay`` (seconds before each
token). See :data:`SCENARIOS` for the names and their default parameters.

Run ``python -m tests.fakes.upstream --port 9100`` for a foreground server (prints its URL,
exits on SIGTERM/SIGINT) with the HTTP control plane under ``/__control/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from tests.fakes._server import (
    BadRequestError,
    BufferedReader,
    HttpRequest,
    ThreadedServer,
    abort_with_rst,
    await_until,
    response_head,
    ssl_client_context,
    ssl_server_context,
    wait_until,
)

__all__ = [
    "BUSY_DETAIL",
    "DEEPSEEK_REASONING_SENT_BACK",
    "SCENARIOS",
    "ChatGptTurn",
    "FakeUpstream",
    "RecordedRequest",
    "Reply",
    "Scenario",
    "count_prompt_tokens",
    "main",
    "split_for_wire",
    "split_tokens",
]

Json = Any
Reply = str | Sequence[str] | Callable[[Json], str | Sequence[str]]

BUSY_DETAIL = (
    "Only one message at a time. Please allow any other responses to complete before sending "
    "another message, or wait one minute."
)

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
#                             for every token (see ``_OpenAI.logprob``), ``top_logprobs`` long
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

# DeepSeek's answer to a request whose history carries ``reasoning_content`` (deepseek-reasoner;
# wording as recorded in the Berkeley Function Calling Leaderboard's DeepSeek handler, rule from
# api-docs.deepseek.com "Reasoning Model (deepseek-reasoner)": "if the reasoning_content field is
# included in the sequence of input messages, the API will return a 400 error").
DEEPSEEK_REASONING_SENT_BACK = (
    "The reasoning_content is an intermediate result for display purposes only and will not be "
    "included in the context for inference. Please remove the reasoning_content from your "
    "message to reduce network traffic."
)

_TOKEN_RE = re.compile(r"\s*\S{1,4}|\s+\Z")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into small tokens whose concatenation is exactly ``text``."""
    tokens: list[str] = _TOKEN_RE.findall(text)
    if "".join(tokens) != text:  # pragma: no cover - the regex covers every position
        raise AssertionError("tokenizer lost characters")
    return tokens


def _text_len(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"])
        return total
    return 0


def count_prompt_tokens(protocol: str, body: Json) -> int:
    """The fake's prompt token count: ``chars // 4 + 1`` (see the module docstring)."""
    chars = 0
    if isinstance(body, dict):
        messages = body.get("messages")
        if protocol == "anthropic":
            chars += _text_len(body.get("system"))
        if isinstance(messages, list):
            for message in messages:
                if not isinstance(message, dict):
                    continue
                content = message.get("content")
                if protocol == "chatgpt_web":
                    parts = content.get("parts") if isinstance(content, dict) else None
                    chars += sum(len(p) for p in parts or [] if isinstance(p, str))
                else:
                    chars += _text_len(content)
    return chars // 4 + 1


def _openai_tool_problem(messages: list[Any]) -> str:
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


_ANTHROPIC_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _anthropic_block_problem(body: dict[str, Any]) -> str:
    """As Anthropic answers (400) a `tool_result` whose `tool_use` is not in the previous
    assistant turn, an image of another type, or a forced tool that is not among `tools`."""
    previous: set[str] = set()
    for number, message in enumerate(body["messages"]):
        content = message.get("content") if isinstance(message, dict) else None
        blocks = content if isinstance(content, list) else []
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "tool_result" and block.get("tool_use_id") not in previous:
                return (
                    f"messages.{number}.content: unexpected `tool_use_id` found in "
                    "`tool_result` blocks. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
            source = block.get("source") if kind == "image" else None
            inline = isinstance(source, dict) and source.get("type") == "base64"
            if inline and source.get("media_type") not in _ANTHROPIC_IMAGE_TYPES:  # type: ignore[union-attr]
                return f"messages.{number}.content: invalid image media_type"
        previous = {
            str(block.get("id"))
            for block in blocks
            if isinstance(block, dict) and block.get("type") == "tool_use"
        }
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or () if isinstance(t, dict)}
        if choice.get("name") not in names:
            return "tool_choice.name: the named tool is not in tools"
    return ""


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


@dataclass
class RecordedRequest:
    """One request the fake received (control-plane requests are not recorded)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Json
    received_at: float
    protocol: str  # "openai" | "anthropic" | "chatgpt_web" | "models" | "unknown"
    query: str = ""
    body: bytes = field(default=b"", repr=False)
    scenario: str = ""  # also "invalid_key", "busy", "bad_request", "not_found"
    status: int | None = None
    stream: bool = False
    tokens_sent: int = 0
    text_sent: str = ""
    prompt_tokens: int = 0
    closed_by_client_at: float | None = None
    finished_at: float | None = None
    # ChatGPT web only:
    conversation_id: str | None = None  # the conversation replied in (new or continued)
    parent_message_id: str | None = None  # as sent by the client
    user_message_id: str | None = None  # messages[-1].id as sent by the client
    message_id: str | None = None  # the assistant message id the fake replied with

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "received_at": self.received_at,
            "protocol": self.protocol,
            "scenario": self.scenario,
            "status": self.status,
            "stream": self.stream,
            "tokens_sent": self.tokens_sent,
            "text_sent": self.text_sent,
            "prompt_tokens": self.prompt_tokens,
            "closed_by_client_at": self.closed_by_client_at,
            "finished_at": self.finished_at,
            "conversation_id": self.conversation_id,
            "parent_message_id": self.parent_message_id,
            "user_message_id": self.user_message_id,
            "message_id": self.message_id,
        }


@dataclass
class ChatGptTurn:
    user_message_id: str
    parent_message_id: str | None
    assistant_message_id: str


class _ClientGoneError(Exception):
    pass


class _AbortedError(Exception):
    pass


# -- connection ---------------------------------------------------------------------------------
class _Connection:
    """One client connection: request reading, response writing, disconnect watching."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.input = BufferedReader(reader)
        self.writer = writer
        self.gone = asyncio.Event()
        self.gone_at: float | None = None
        self.aborted = False
        self._watcher: asyncio.Task[None] | None = None
        self._finishers: list[Callable[[], None]] = []

    def on_finish(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` just before the response's last bytes go out (or when it ends early),
        so whatever a client observes after the end of a response is already recorded."""
        self._finishers.append(fn)

    def finish(self) -> None:
        finishers, self._finishers = self._finishers, []
        for fn in finishers:
            fn()

    def watch(self) -> None:
        """Start noticing the client closing the connection while a response is produced."""

        async def run() -> None:
            try:
                while await self.input.fill():
                    pass
            except (ConnectionError, OSError, ssl.SSLError):
                pass
            self.gone_at = time.monotonic()
            self.gone.set()

        if self._watcher is None and not self.gone.is_set():
            self._watcher = asyncio.create_task(run())

    async def unwatch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            await asyncio.wait([watcher])  # never swallows a cancellation of this task

    def check(self) -> None:
        if self.gone.is_set() or self.writer.transport.is_closing():
            raise _ClientGoneError

    async def write(self, data: bytes) -> None:
        self.check()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            raise _ClientGoneError from exc

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up (raising) as soon as the client goes away."""
        self.check()
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.gone.wait(), seconds)
        except TimeoutError:
            return
        raise _ClientGoneError

    async def send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        keep_alive: bool,
    ) -> None:
        all_headers = [
            *headers,
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
        self.check()
        self.finish()
        await self.write(response_head(status, all_headers) + body)

    async def send_json(
        self,
        status: int,
        payload: Json,
        *,
        keep_alive: bool,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        await self.send(
            status,
            [("Content-Type", "application/json"), *(headers or [])],
            orjson.dumps(payload),
            keep_alive=keep_alive,
        )

    async def start_chunked(
        self, status: int, headers: list[tuple[str, str]], *, keep_alive: bool
    ) -> None:
        all_headers = [
            *headers,
            ("Transfer-Encoding", "chunked"),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
        await self.write(response_head(status, all_headers))

    async def chunk(self, data: bytes) -> None:
        if data:
            await self.write(b"%x\r\n%b\r\n" % (len(data), data))

    async def end_chunked(self) -> None:
        self.check()
        self.finish()
        await self.write(b"0\r\n\r\n")

    async def reset(self) -> None:
        """Abort the connection with a TCP RST after the bytes already written left."""
        with contextlib.suppress(Exception):
            await self.writer.drain()
        await asyncio.sleep(0.01)
        self.finish()
        self.aborted = True
        abort_with_rst(self.writer)


class _SseWriter:
    """Renders SSE events (lists of lines) with the scenario's wire quirks."""

    _NOISE = (": keep-alive\n\n", "\n", ":\n\n", "retry: 3000\n\n", ": ping\n")

    def __init__(self, conn: _Connection, scenario: Scenario) -> None:
        self.conn = conn
        self.eol = "\r\n" if scenario.name == "malformed_crlf" else "\n"
        self.noisy = scenario.name == "malformed_comments"
        self.split = scenario.name == "split_bytes"
        self.chunk_sizes: tuple[int, ...] = tuple(scenario.params.get("chunk_sizes") or (1,))
        self.write_delay = float(scenario.params.get("write_delay") or 0.0)
        self.count = 0
        self._cut = 0

    def render(self, lines: Sequence[str]) -> bytes:
        i = self.count
        self.count += 1
        if not self.noisy:
            return (self.eol.join(lines) + self.eol * 2).encode()
        body = list(lines)
        if not any(line.startswith("event:") for line in body) and i % 2 == 0:
            body.insert(0, "event: message")
        if len(body) > 1:
            body.insert(1, ": interleaved comment")
        if i % 3 == 1:
            body.append(f"id: {i}")
        return (self._NOISE[i % len(self._NOISE)] + "\n".join(body) + "\n\n").encode()

    async def send(self, lines: Sequence[str]) -> None:
        data = self.render(lines)
        if not self.split:
            await self.conn.chunk(data)
            return
        pieces = split_for_wire(data, self.chunk_sizes, offset=self._cut)
        self._cut += len(pieces)
        for piece in pieces:
            await self.conn.chunk(piece)
            await self.conn.sleep(self.write_delay)


def split_for_wire(data: bytes, chunk_sizes: Sequence[int], *, offset: int = 0) -> list[bytes]:
    """The ``split_bytes`` cutter: pieces of ``chunk_sizes`` (cycled from ``offset``), plus a
    forced cut inside every ``data:`` (after ``da``) and after the first byte of every
    multi-byte UTF-8 character. The pieces concatenate back to ``data``."""
    forced = sorted(
        {m.start() + 2 for m in re.finditer(rb"data:", data)}
        | {i + 1 for i, b in enumerate(data) if b >= 0xC0}
    )
    sizes = [max(1, int(size)) for size in chunk_sizes] or [1]
    pieces: list[bytes] = []
    pos = 0
    cut = offset
    next_forced = 0
    while pos < len(data):
        end = min(len(data), pos + sizes[cut % len(sizes)])
        cut += 1
        while next_forced < len(forced) and forced[next_forced] <= pos:
            next_forced += 1
        if next_forced < len(forced) and forced[next_forced] < end:
            end = forced[next_forced]
        pieces.append(data[pos:end])
        pos = end
    return pieces


def _data(payload: Json) -> str:
    return "data: " + orjson.dumps(payload).decode()


# -- the exchange (one generation request) --------------------------------------------------------
@dataclass
class _Exchange:
    conn: _Connection
    request: HttpRequest
    record: RecordedRequest
    body: dict[str, Any]
    scenario: Scenario
    tokens: list[str]
    finish_length: bool
    model: str
    token_delay: float
    keep_alive: bool
    include_usage: bool = False
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    sent: list[str] = field(default_factory=list)
    user_message_id: str = ""
    reasoning: list[str] = field(default_factory=list)  # reasoning tokens sent (deepseek_reasoning)
    calls: list[dict[str, str]] = field(default_factory=list)  # tool_calls scenario
    piece: int = 5  # characters per streamed argument piece

    def pieces(self, arguments: str) -> list[str]:
        return [arguments[i : i + self.piece] for i in range(0, len(arguments), self.piece)]

    @property
    def call_tokens(self) -> int:
        """Completion tokens of the function calls: one per argument piece."""
        return sum(len(self.pieces(call["arguments"])) for call in self.calls)

    @property
    def text_so_far(self) -> str:
        return "".join(self.sent)


class _Protocol:
    name = ""
    stream_headers: ClassVar[list[tuple[str, str]]] = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
    ]

    def error(self, status: int, kind: str) -> Json:
        raise NotImplementedError

    def start_events(self, ex: _Exchange) -> list[list[str]]:
        return []

    def token_event(self, ex: _Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def end_events(self, ex: _Exchange) -> list[list[str]]:
        return []

    def done_event(self, ex: _Exchange) -> list[str] | None:
        return ["data: [DONE]"]

    def error_event(self, ex: _Exchange) -> list[str]:
        raise NotImplementedError

    def invalid_event(self, ex: _Exchange) -> list[str]:
        return ['data: {"choices": [{"index": 0, "delta": {"content": "garbage']

    def empty_choices_event(self, ex: _Exchange) -> list[str] | None:
        return None

    def complete(self, ex: _Exchange) -> Json:
        raise NotImplementedError


class _OpenAI(_Protocol):
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

    def _chunk(self, ex: _Exchange, choices: list[Json], **extra: Any) -> list[str]:
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
        return [_data(payload)]

    def start_events(self, ex: _Exchange) -> list[list[str]]:
        if ex.tokens:
            return []
        # An empty reply still announces the role.
        delta = {"role": "assistant", "content": ""}
        return [self._chunk(ex, [{"index": 0, "delta": delta, "finish_reason": None}])]

    def token_event(self, ex: _Exchange, token: str, extra: dict[str, Any]) -> list[str]:
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
    def choices(ex: _Exchange) -> int:
        n = ex.body.get("n")
        return n if isinstance(n, int) and n > 1 else 1

    @staticmethod
    def logprob(ex: _Exchange, token: str, position: int) -> Json:
        """With ``logprobs``: token ``n`` has log-probability ``-(n + 1) / 100`` and
        ``top_logprobs`` alternatives (itself, then ``"alt1"``, ``"alt2"``, …)."""
        value = -(position + 1) / 100

        def entry(text: str, logprob: float) -> Json:
            return {"token": text, "logprob": logprob, "bytes": list(text.encode())}

        top = int(ex.body.get("top_logprobs") or 0)
        alternatives = [entry(token, value)] + [entry(f"alt{i}", value - i) for i in range(1, top)]
        return {**entry(token, value), "top_logprobs": alternatives[:top]}

    def usage(self, ex: _Exchange) -> Json:
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

    def reasoning_events(self, ex: _Exchange, tokens: Sequence[str]) -> list[list[str]]:
        """DeepSeek: a role chunk with empty reasoning, then one chunk per reasoning token."""
        first = {"role": "assistant", "content": None, "reasoning_content": ""}
        events = [self._chunk(ex, [{"index": 0, "delta": first, "finish_reason": None}])]
        for token in tokens:
            delta = {"content": None, "reasoning_content": token}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            events.append(self._chunk(ex, [choice]))
        return events

    def tool_events(self, ex: _Exchange) -> list[list[str]]:
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

    def finish_reason(self, ex: _Exchange) -> str:
        return "length" if ex.finish_length else ("tool_calls" if ex.calls else "stop")

    def end_events(self, ex: _Exchange) -> list[list[str]]:
        finish = self.finish_reason(ex)
        events = self.tool_events(ex)
        ends = [{"index": i, "delta": {}, "finish_reason": finish} for i in range(self.choices(ex))]
        events.append(self._chunk(ex, ends))
        if ex.include_usage:
            events.append(self._chunk(ex, [], usage=self.usage(ex)))
        return events

    def error_event(self, ex: _Exchange) -> list[str]:
        return [_data(self.error(500, ""))]

    def empty_choices_event(self, ex: _Exchange) -> list[str] | None:
        return self._chunk(
            ex,
            [],
            prompt_filter_results=[
                {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}
            ],
        )

    def complete(self, ex: _Exchange) -> Json:
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


class _Anthropic(_Protocol):
    name = "anthropic"
    _types: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }

    def error(self, status: int, kind: str) -> Json:
        etype = self._types.get(status, "api_error")
        message = kind or {
            401: "invalid x-api-key",
            429: "Number of request tokens has exceeded your per-minute rate limit",
            529: "Overloaded",
        }.get(status, "Internal server error")
        return {"type": "error", "error": {"type": etype, "message": message}}

    @staticmethod
    def _event(name: str, payload: Json) -> list[str]:
        return [f"event: {name}", _data(payload)]

    def start_events(self, ex: _Exchange) -> list[list[str]]:
        message: dict[str, Any] = {
            "id": f"msg_{ex.id}",
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": ex.record.prompt_tokens, "output_tokens": 1},
        }
        return [
            self._event("message_start", {"type": "message_start", "message": message}),
            self._event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            self._event("ping", {"type": "ping"}),
        ]

    def token_event(self, ex: _Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        payload = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": token},
            **extra,
        }
        return self._event("content_block_delta", payload)

    def stop_reason(self, ex: _Exchange) -> str:
        return "max_tokens" if ex.finish_length else ("tool_use" if ex.calls else "end_turn")

    def tool_events(self, ex: _Exchange) -> list[list[str]]:
        """One tool_use block per call, after the text block (index 0)."""
        events = []
        for number, call in enumerate(ex.calls, start=1):
            block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
            start = {"type": "content_block_start", "index": number, "content_block": block}
            events.append(self._event("content_block_start", start))
            for piece in ex.pieces(call["arguments"]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                payload = {"type": "content_block_delta", "index": number, "delta": delta}
                events.append(self._event("content_block_delta", payload))
            stop = {"type": "content_block_stop", "index": number}
            events.append(self._event("content_block_stop", stop))
        return events

    def end_events(self, ex: _Exchange) -> list[list[str]]:
        return [
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            *self.tool_events(ex),
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason(ex), "stop_sequence": None},
                    "usage": {"output_tokens": len(ex.sent) + ex.call_tokens},
                },
            ),
        ]

    def done_event(self, ex: _Exchange) -> list[str] | None:
        return self._event("message_stop", {"type": "message_stop"})

    def error_event(self, ex: _Exchange) -> list[str]:
        return self._event("error", self.error(529, ""))

    def invalid_event(self, ex: _Exchange) -> list[str]:
        return [
            "event: content_block_delta",
            'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_del',
        ]

    def complete(self, ex: _Exchange) -> Json:
        return {
            "id": f"msg_{ex.id}",
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "content": [
                *(
                    [{"type": "text", "text": ex.text_so_far}]
                    if ex.text_so_far or not ex.calls
                    else []
                ),
                *(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["name"],
                        "input": orjson.loads(call["arguments"] or "{}"),
                    }
                    for call in ex.calls
                ),
            ],
            "stop_reason": self.stop_reason(ex),
            "stop_sequence": None,
            "usage": {
                "input_tokens": ex.record.prompt_tokens,
                "output_tokens": len(ex.sent) + ex.call_tokens,
            },
        }


class _ChatGptWeb(_Protocol):
    name = "chatgpt_web"

    def error(self, status: int, kind: str) -> Json:
        if status == 401 and not kind:
            return {
                "detail": {
                    "message": "Your authentication token has expired. "
                    "Please try signing in again.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "token_expired",
                }
            }
        message = kind or {
            429: "You've reached our limit of messages per hour. Please try again later.",
        }.get(status, "Something went wrong. If this issue persists please contact us.")
        return {"detail": message}

    def _message(
        self, ex: _Exchange, text: str, *, final: bool, extra: dict[str, Any]
    ) -> list[str]:
        metadata: dict[str, Any] = {
            "message_type": "next",
            "model_slug": ex.model,
            "parent_id": ex.user_message_id,
        }
        if final:
            finish = "max_tokens" if ex.finish_length else "stop"
            metadata["finish_details"] = {"type": finish, "stop_tokens": [100260]}
            metadata["is_complete"] = True
        payload = {
            "message": {
                "id": ex.record.message_id,
                "author": {"role": "assistant", "name": None, "metadata": {}},
                "create_time": ex.created,
                "update_time": None,
                "content": {"content_type": "text", "parts": [text]},
                "status": "finished_successfully" if final else "in_progress",
                "end_turn": True if final else None,
                "weight": 1.0,
                "metadata": metadata,
                "recipient": "all",
            },
            "conversation_id": ex.record.conversation_id,
            "error": None,
            **extra,
        }
        return [_data(payload)]

    def token_event(self, ex: _Exchange, token: str, extra: dict[str, Any]) -> list[str]:
        # Cumulative: the whole text so far, including this token.
        return self._message(ex, ex.text_so_far + token, final=False, extra=extra)

    def end_events(self, ex: _Exchange) -> list[list[str]]:
        return [self._message(ex, ex.text_so_far, final=True, extra={})]

    def error_event(self, ex: _Exchange) -> list[str]:
        return [
            _data(
                {
                    "message": None,
                    "conversation_id": ex.record.conversation_id,
                    "error": "Something went wrong while generating the response.",
                }
            )
        ]

    def invalid_event(self, ex: _Exchange) -> list[str]:
        return ['data: {"message": {"id": "garbage", "content": {"parts": ["trunc']


_OPENAI = _OpenAI()
_ANTHROPIC = _Anthropic()
_CHATGPT = _ChatGptWeb()

_HTML_ERROR = """<!DOCTYPE html>
<html>
<head><title>{status} Bad gateway</title></head>
<body>
<center><h1>{status} Bad gateway</h1></center>
<p>The upstream server returned an invalid response. Bad gateway.</p>
<hr><center>nginx</center>
</body>
</html>
"""

_CLOUDFLARE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head>
<body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">chat.openai.com</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>
<div id="challenge-body-text" class="core-msg spacer">chat.openai.com needs to review the
security of your connection before proceeding.</div></div></div>
<div class="footer" role="contentinfo"><div class="footer-inner">
<div class="text-center">Ray ID: <code>8a1b2c3d4e5f6a7b</code></div>
<div class="text-center">Performance &amp; security by Cloudflare</div></div></div>
</body></html>
"""


# -- the server ---------------------------------------------------------------------------------
class FakeUpstream(ThreadedServer):
    """Fake OpenAI-compatible / Anthropic / ChatGPT-web upstream on a real loopback socket.

    All options are keyword-only. ``valid_keys``: when not None, a request whose API key
    (OpenAI ``Authorization: Bearer``, Anthropic ``x-api-key`` or Bearer, ChatGPT web Bearer
    access token) is not in the set gets 401 in the provider's error shape.
    """

    def __init__(
        self,
        *,
        reply: Reply = "Hello 你好 🌍 world",
        token_delay: float = 0.0,
        models: Sequence[str] = ("fake-model", "fake-model-2"),
        valid_keys: Iterable[str] | None = None,
        scenario: str | Scenario = "normal",
        strict_conversations: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
    ) -> None:
        super().__init__(host=host, port=port, ssl_context=ssl_server_context() if tls else None)
        self.tls = tls
        self.reply: Reply = reply
        self.token_delay = token_delay
        self.models: list[str] = list(models)
        self.valid_keys: set[str] | None = set(valid_keys) if valid_keys is not None else None
        self.strict_conversations = strict_conversations
        self.conversations: dict[str, list[ChatGptTurn]] = {}
        self._lock = threading.Lock()
        self._default = Scenario.coerce(scenario)
        self._models_scenario = Scenario("normal")
        self._queue: list[Scenario] = []
        self._records: list[RecordedRequest] = []
        self._in_flight: set[str] = set()

    # -- public API ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.netloc}"

    @property
    def ssl_client_context(self) -> ssl.SSLContext:
        """Client SSL context trusting this fake's certificate (``tls=True`` only)."""
        return ssl_client_context()

    def set_scenario(self, name: str | Scenario, /, **params: Any) -> None:
        """Set the default scenario used when the queue is empty."""
        scenario = Scenario.coerce(name) if not params else Scenario(str(name), **params)
        with self._lock:
            self._default = scenario

    def set_models_scenario(self, name: str | Scenario, /, **params: Any) -> None:
        """Scenario for ``GET /v1/models`` (normal, slow, stall_*, hang and the error ones)."""
        scenario = Scenario.coerce(name) if not params else Scenario(str(name), **params)
        with self._lock:
            self._models_scenario = scenario

    def queue(self, *names: str | Scenario | dict[str, Any]) -> None:
        """Queue one-shot scenarios, consumed in order by the next generation requests."""
        scenarios = [Scenario.coerce(name) for name in names]
        with self._lock:
            self._queue.extend(scenarios)

    @property
    def scenario(self) -> Scenario:
        return self._default

    @property
    def queued(self) -> list[Scenario]:
        with self._lock:
            return list(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def calls(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def reset(self) -> None:
        """Forget records, queue and conversations; back to the ``normal`` scenario."""
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self._default = Scenario("normal")
            self._models_scenario = Scenario("normal")
            self.conversations.clear()

    def wait_for(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate(self)`` holds (sync tests)."""
        wait_until(lambda: predicate(self), timeout)

    async def await_for(
        self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0
    ) -> None:
        """Wait until ``predicate(self)`` holds without blocking the caller's event loop."""
        await await_until(lambda: predicate(self), timeout)

    # -- internals ---------------------------------------------------------------------------
    def _next_scenario(self) -> Scenario:
        with self._lock:
            return self._queue.pop(0) if self._queue else self._default

    def _tokens_for(self, body: Json) -> list[str]:
        reply = self.reply
        value = reply(body) if callable(reply) else reply
        if isinstance(value, str):
            return split_tokens(value)
        return [str(token) for token in value]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(reader, writer)
        try:
            while True:
                try:
                    request = await conn.input.read_request()
                except BadRequestError as exc:
                    await conn.send_json(400, {"error": str(exc)}, keep_alive=False)
                    return
                if request is None:
                    return
                keep_alive = await self._serve(conn, request)
                if not keep_alive or conn.aborted or conn.gone.is_set():
                    return
        finally:
            await conn.unwatch()

    async def _serve(self, conn: _Connection, request: HttpRequest) -> bool:
        if request.path.startswith("/__control/"):
            await self._control(conn, request)
            return request.keep_alive
        body: Json = None
        if request.body:
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                body = None
        path = request.path.rstrip("/") or "/"
        protocol = "unknown"
        if request.method == "GET" and path in ("/v1/models", "/models"):
            protocol = "models"
        elif request.method == "GET" and path == "/api/tags":
            protocol = "ollama_tags"
        elif request.method == "POST" and path.endswith("/chat/completions"):
            protocol = "openai"
        elif request.method == "POST" and path == "/v1/messages":
            protocol = "anthropic"
        elif request.method == "POST" and path in (
            "/backend-api/conversation",
            "/api/conversation",
            "/conversation",
        ):
            protocol = "chatgpt_web"
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=dict(request.headers),
            json=body,
            body=request.body,
            received_at=time.monotonic(),
            protocol=protocol,
        )
        with self._lock:
            self._records.append(record)

        def finished() -> None:
            record.finished_at = time.monotonic()

        conn.on_finish(finished)
        conn.watch()
        try:
            if protocol == "models":
                await self._models(conn, request, record)
            elif protocol == "ollama_tags":
                await self._status(conn, request, record, 200, self._ollama_tags())
            elif protocol in ("openai", "anthropic", "chatgpt_web"):
                await self._generate(conn, request, record, protocol)
            else:
                record.scenario = "not_found"
                await self._status(conn, request, record, 404, {"error": "not found"})
        except _ClientGoneError:
            record.closed_by_client_at = conn.gone_at or time.monotonic()
            return False
        except _AbortedError:
            return False
        finally:
            conn.finish()
            await conn.unwatch()
        return request.keep_alive

    async def _status(
        self,
        conn: _Connection,
        request: HttpRequest,
        record: RecordedRequest,
        status: int,
        payload: Json,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        record.status = status
        await conn.send_json(status, payload, keep_alive=request.keep_alive, headers=headers)

    @staticmethod
    def _api_key(request: HttpRequest, protocol: str) -> str:
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if protocol in ("anthropic", "models"):
            return request.headers.get("x-api-key") or bearer
        return bearer

    async def _error_scenarios(
        self,
        conn: _Connection,
        request: HttpRequest,
        record: RecordedRequest,
        scenario: Scenario,
        proto: _Protocol,
    ) -> bool:
        """Answer the scenarios that never produce a reply; True if it answered."""
        name, params = scenario.name, scenario.params
        if name == "hang":
            await conn.gone.wait()
            raise _ClientGoneError
        if name == "rate_limited":
            status = int(params["status"])
            headers: list[tuple[str, str]] = []
            if params["retry_after"] is not None:
                headers.append(("Retry-After", str(params["retry_after"])))
            if proto is _ANTHROPIC:
                headers.append(("anthropic-ratelimit-requests-remaining", "0"))
            else:
                headers.append(("x-ratelimit-remaining-requests", "0"))
            await self._status(conn, request, record, status, proto.error(status, ""), headers)
            return True
        if name in ("server_error", "auth_error"):
            status = int(params["status"])
            await self._status(conn, request, record, status, proto.error(status, ""))
            return True
        if name == "insufficient_quota":  # OpenAI's wording and codes for an unpaid account
            said = (
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors."
            )
            error = {
                "error": {
                    "message": said,
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            }
            await self._status(conn, request, record, 429, error)
            return True
        if name == "echo_key":  # as OpenAI and Groq answer a wrong key: the key, verbatim
            status = int(params["status"])
            auth = request.headers.get("authorization", "")
            key = request.headers.get("x-api-key") or auth.removeprefix("Bearer ").strip()
            error = {
                "error": {
                    "message": f"Incorrect API key provided: {key}",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            }
            await self._status(conn, request, record, status, error)
            return True
        if name in ("html_error", "cloudflare_challenge"):
            status = int(params["status"])
            record.status = status
            headers = [("Content-Type", "text/html; charset=UTF-8")]
            if name == "html_error":
                page = _HTML_ERROR.format(status=status)
                headers.append(("Server", "nginx"))
            else:
                page = _CLOUDFLARE
                headers += [("Server", "cloudflare"), ("cf-mitigated", "challenge")]
                headers.append(("cf-ray", "8a1b2c3d4e5f6a7b-FRA"))
            await conn.send(status, headers, page.encode(), keep_alive=request.keep_alive)
            return True
        return False

    def _ollama_tags(self) -> Json:
        """Ollama's native model list (`GET /api/tags`): `models[].name` is what chat requests
        name; no key is asked (Ollama has none)."""
        return {
            "models": [
                {
                    "name": model,
                    "model": model,
                    "modified_at": "2025-10-03T23:34:03.409490317-07:00",
                    "size": 3338801804,
                    "digest": "a2af6cc3eb7fa8be8504abaf9b04e88f17a119ec3f04a3addf55f92841195f5a",
                    "details": {
                        "format": "gguf",
                        "family": "gemma",
                        "families": ["gemma"],
                        "parameter_size": "4.3B",
                        "quantization_level": "Q4_K_M",
                    },
                }
                for model in self.models
            ]
        }

    async def _models(
        self, conn: _Connection, request: HttpRequest, record: RecordedRequest
    ) -> None:
        anthropic = "x-api-key" in request.headers or "anthropic-version" in request.headers
        proto: _Protocol = _ANTHROPIC if anthropic else _OPENAI
        if self.valid_keys is not None and self._api_key(request, "models") not in self.valid_keys:
            record.scenario = "invalid_key"
            await self._status(conn, request, record, 401, proto.error(401, ""))
            return
        with self._lock:
            scenario = self._models_scenario
        record.scenario = scenario.name
        if await self._error_scenarios(conn, request, record, scenario, proto):
            return
        if scenario.name == "stall_before_first_token":
            await conn.sleep(float(scenario.params["seconds"]))
        await conn.sleep(float(scenario.params.get("token_delay") or 0.0))
        if anthropic:
            data = [
                {
                    "type": "model",
                    "id": model,
                    "display_name": model,
                    "created_at": "2025-01-01T00:00:00Z",
                }
                for model in self.models
            ]
            payload: Json = {
                "data": data,
                "has_more": False,
                "first_id": self.models[0] if self.models else None,
                "last_id": self.models[-1] if self.models else None,
            }
        else:
            payload = {
                "object": "list",
                "data": [
                    {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}
                    for model in self.models
                ],
            }
        await self._status(conn, request, record, 200, payload)

    async def _generate(
        self,
        conn: _Connection,
        request: HttpRequest,
        record: RecordedRequest,
        protocol: str,
    ) -> None:
        proto: _Protocol = {"openai": _OPENAI, "anthropic": _ANTHROPIC}.get(protocol, _CHATGPT)
        key = self._api_key(request, protocol)
        if self.valid_keys is not None and key not in self.valid_keys:
            record.scenario = "invalid_key"
            await self._status(conn, request, record, 401, proto.error(401, ""))
            return
        body = record.json
        problem = self._validate(protocol, body)
        if problem:
            record.scenario = "bad_request"
            await self._status(conn, request, record, 400, proto.error(400, problem))
            return
        assert isinstance(body, dict)
        record.prompt_tokens = count_prompt_tokens(protocol, body)
        record.stream = protocol == "chatgpt_web" or bool(body.get("stream"))
        if protocol != "chatgpt_web":
            await self._run(conn, request, record, proto, body)
            return
        # ChatGPT web: one in-flight request per access token, conversation chain.
        if key in self._in_flight:
            record.scenario = "busy"
            await self._status(conn, request, record, 429, {"detail": BUSY_DETAIL})
            return
        problem = self._check_conversation(body)
        if problem:
            record.scenario = "not_found"
            await self._status(conn, request, record, 404, {"detail": problem})
            return
        self._in_flight.add(key)
        conn.on_finish(lambda: self._in_flight.discard(key))  # free once the reply ends
        try:
            await self._run(conn, request, record, proto, body)
        finally:
            self._in_flight.discard(key)

    @staticmethod
    def _validate(protocol: str, body: Json) -> str:
        if not isinstance(body, dict):
            return "The request body is not valid JSON."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        if protocol == "anthropic" and not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        if protocol == "openai":
            return _openai_tool_problem(messages)
        if protocol == "anthropic":
            return _anthropic_block_problem(body)
        if protocol == "chatgpt_web":
            if body.get("action") not in ("next", "variant", "continue"):
                return "Invalid action"
            for message in messages:
                content = message.get("content") if isinstance(message, dict) else None
                if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
                    return "Invalid message content"
        return ""

    def _check_conversation(self, body: dict[str, Any]) -> str:
        conversation_id = body.get("conversation_id")
        if not conversation_id or not self.strict_conversations:
            return ""
        turns = self.conversations.get(str(conversation_id))
        if turns is None:
            return f"Can't load conversation {conversation_id}"
        known = {t.user_message_id for t in turns} | {t.assistant_message_id for t in turns}
        if body.get("parent_message_id") not in known:
            return f"Parent message {body.get('parent_message_id')} not found"
        return ""

    async def _run(
        self,
        conn: _Connection,
        request: HttpRequest,
        record: RecordedRequest,
        proto: _Protocol,
        body: dict[str, Any],
    ) -> None:
        scenario = self._next_scenario()
        record.scenario = scenario.name
        if await self._error_scenarios(conn, request, record, scenario, proto):
            return
        if scenario.name == "dialect":
            await self._replay(conn, request, record, scenario)
            return
        if (
            scenario.name == "deepseek_reasoning"
            and proto is _OPENAI
            and any(isinstance(m, dict) and "reasoning_content" in m for m in body["messages"])
        ):
            record.scenario = "bad_request"
            error = proto.error(400, DEEPSEEK_REASONING_SENT_BACK)
            error["error"]["code"] = "invalid_request_error"
            await self._status(conn, request, record, 400, error)
            return
        if scenario.name == "tool_calls":
            tokens = split_tokens(str(scenario.params["text"]))
        else:
            tokens = self._tokens_for(body)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_length = False
        if isinstance(limit, int) and proto is not _CHATGPT and 0 <= limit < len(tokens):
            tokens, finish_length = tokens[:limit], True
        delay = scenario.params.get("token_delay")
        stream_options = body.get("stream_options")
        ex = _Exchange(
            conn=conn,
            request=request,
            record=record,
            body=body,
            scenario=scenario,
            tokens=tokens,
            finish_length=finish_length,
            model=str(body.get("model") or (self.models[0] if self.models else "fake-model")),
            token_delay=float(self.token_delay if delay is None else delay),
            keep_alive=request.keep_alive,
            include_usage=isinstance(stream_options, dict)
            and bool(stream_options.get("include_usage")),
        )
        if scenario.name == "tool_calls":
            ex.calls = [dict(call) for call in scenario.params["calls"]]
            ex.piece = max(1, int(scenario.params["piece"]))
        if proto is _CHATGPT:
            self._register_turn(ex)
        if record.stream:
            await self._stream(ex, proto)
        else:
            await self._complete(ex, proto)

    async def _replay(
        self, conn: _Connection, request: HttpRequest, record: RecordedRequest, scenario: Scenario
    ) -> None:
        """The ``dialect`` scenario: a recorded transcript, as its service would send it."""
        from tests.fakes.dialects import DIALECTS, Seen  # loaded on first use

        name = str(scenario.params["name"])
        transcript = DIALECTS.get(name)
        if transcript is None:
            message = f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}"
            await self._status(conn, request, record, 500, {"error": {"message": message}})
            return
        seen = Seen.of(request.method, request.path, request.query, request.headers, record.json)
        refusal = transcript.refuse(seen)
        if refusal is not None:
            record.scenario = "bad_request"
            await self._status(conn, request, record, refusal[0], refusal[1])
            return
        record.status = transcript.http_status
        record.text_sent = transcript.text
        headers = list(transcript.headers)
        await conn.start_chunked(transcript.http_status, headers, keep_alive=request.keep_alive)
        sizes = tuple(scenario.params["chunk_sizes"] or ())
        pieces = split_for_wire(transcript.body, sizes) if sizes else transcript.events()
        for piece in pieces:
            await conn.chunk(piece)
            await conn.sleep(float(scenario.params["write_delay"]))
        await conn.end_chunked()

    def _register_turn(self, ex: _Exchange) -> None:
        body = ex.body
        last = body["messages"][-1]
        user_id = str(last.get("id") or uuid.uuid4())
        parent = body.get("parent_message_id")
        conversation_id = str(body.get("conversation_id") or uuid.uuid4())
        ex.user_message_id = user_id
        ex.record.user_message_id = user_id
        ex.record.parent_message_id = str(parent) if parent is not None else None
        ex.record.conversation_id = conversation_id
        ex.record.message_id = str(uuid.uuid4())
        turn = ChatGptTurn(user_id, ex.record.parent_message_id, ex.record.message_id)
        self.conversations.setdefault(conversation_id, []).append(turn)

    async def _complete(self, ex: _Exchange, proto: _Protocol) -> None:
        """Non-streaming reply (OpenAI, Anthropic)."""
        conn, params, name = ex.conn, ex.scenario.params, ex.scenario.name
        if name == "stall_before_first_token":
            await conn.sleep(float(params["seconds"]))
        if name == "deepseek_reasoning" and proto is _OPENAI:
            ex.reasoning = split_tokens(str(params["reasoning"]))
        for index, token in enumerate(ex.tokens):
            if name == "long_pause" and index == int(params["after_tokens"]):
                await conn.sleep(float(params["pause"]))
            await conn.sleep(ex.token_delay)
            ex.sent.append(token)
        if name == "error_mid_stream":
            ex.sent.clear()
            await self._status(conn, ex.request, ex.record, 500, proto.error(500, ""))
            return
        payload = proto.complete(ex)
        if name == "huge_line":
            payload["x_padding"] = "x" * int(params["size"])
        data = orjson.dumps(payload)
        ex.record.status = 200
        if name == "reset_mid_stream":
            head = response_head(
                200,
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            await conn.write(head + data[: len(data) // 2])
            ex.sent.clear()
            await conn.reset()
            raise _AbortedError
        ex.record.tokens_sent = len(ex.sent)
        ex.record.text_sent = ex.text_so_far
        await conn.send(200, [("Content-Type", "application/json")], data, keep_alive=ex.keep_alive)

    async def _stream(self, ex: _Exchange, proto: _Protocol) -> None:
        conn, params, name, record = ex.conn, ex.scenario.params, ex.scenario.name, ex.record
        out = _SseWriter(conn, ex.scenario)
        record.status = 200
        headers = [*proto.stream_headers, ("X-Request-Id", ex.id)]
        await conn.start_chunked(200, headers, keep_alive=ex.keep_alive)
        if name == "stall_before_first_token":
            await conn.sleep(float(params["seconds"]))
        if name == "deepseek_reasoning" and isinstance(proto, _OpenAI):
            thoughts = split_tokens(str(params["reasoning"]))
            for index, event in enumerate(proto.reasoning_events(ex, thoughts)):
                if index:
                    await conn.sleep(ex.token_delay)
                    ex.reasoning.append(thoughts[index - 1])
                await out.send(event)
        for event in proto.start_events(ex):
            await out.send(event)
        after = int(params.get("after_tokens", 0))
        for index in range(len(ex.tokens) + 1):
            if index == after or (index == len(ex.tokens) and after > index):
                if name == "reset_mid_stream":
                    await conn.reset()
                    raise _AbortedError
                if name == "error_mid_stream":
                    await out.send(proto.error_event(ex))
                    await conn.end_chunked()
                    return
                if name == "invalid_json_line":
                    await out.send(proto.invalid_event(ex))
                if name == "long_pause" and index < len(ex.tokens):
                    await conn.sleep(float(params["pause"]))
            if index == len(ex.tokens):
                break
            if name == "empty_choices":
                empty = proto.empty_choices_event(ex)
                if empty is not None:
                    await out.send(empty)
            await conn.sleep(ex.token_delay)
            token = ex.tokens[index]
            extra = {"x_padding": "x" * int(params["size"])} if name == "huge_line" else {}
            event = proto.token_event(ex, token, extra if index == 0 else {})
            conn.check()
            # Counted before the write, so a client that got the token sees it counted.
            ex.sent.append(token)
            record.tokens_sent = len(ex.sent)
            record.text_sent = ex.text_so_far
            await out.send(event)
        for event in proto.end_events(ex):
            await out.send(event)
        if name != "missing_done":
            done = proto.done_event(ex)
            if done is not None:
                await out.send(done)
                if name == "double_done":
                    await out.send(done)
        await conn.end_chunked()

    # -- control plane -----------------------------------------------------------------------
    async def _control(self, conn: _Connection, request: HttpRequest) -> None:
        action = request.path.removeprefix("/__control/").strip("/")
        keep = request.keep_alive
        try:
            body: Json = orjson.loads(request.body) if request.body else {}
            if request.method == "GET" and action == "requests":
                await conn.send_json(200, [r.to_dict() for r in self.requests], keep_alive=keep)
                return
            if request.method == "GET" and action == "health":
                await conn.send_json(200, {"ok": True, "url": self.base_url}, keep_alive=keep)
                return
            if request.method != "POST" or not isinstance(body, dict):
                raise ValueError(f"unknown control request {request.method} {request.path}")
            if action == "scenario":
                params = dict(body)
                name = str(params.pop("name"))
                if params.pop("models", False):
                    self.set_models_scenario(name, **params)
                else:
                    self.set_scenario(name, **params)
            elif action == "queue":
                self.queue(*body.get("names", []))
            elif action == "reset":
                self.reset()
            elif action == "config":
                self._configure(body)
            else:
                raise ValueError(f"unknown control action {action!r}")
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            await conn.send_json(400, {"error": str(exc)}, keep_alive=keep)
            return
        await conn.send_json(
            200,
            {"ok": True, "scenario": self._default.to_dict(), "queued": len(self._queue)},
            keep_alive=keep,
        )

    def _configure(self, body: dict[str, Any]) -> None:
        if "reply" in body:
            self.reply = body["reply"] if isinstance(body["reply"], str) else list(body["reply"])
        if "token_delay" in body:
            self.token_delay = float(body["token_delay"])
        if "models" in body:
            self.models = [str(m) for m in body["models"]]
        if "valid_keys" in body:
            keys = body["valid_keys"]
            self.valid_keys = None if keys is None else {str(k) for k in keys}
        if "strict_conversations" in body:
            self.strict_conversations = bool(body["strict_conversations"])


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, orjson.loads(value)
    except orjson.JSONDecodeError:
        return key, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.upstream",
        description="Fake OpenAI / Anthropic / ChatGPT-web upstream (control plane: /__control/).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--scenario", default="normal", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--param", action="append", default=[], type=_parse_param, help="scenario KEY=VALUE"
    )
    parser.add_argument("--reply", default="Hello 你好 🌍 world")
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--models", default="fake-model,fake-model-2", help="comma-separated")
    parser.add_argument("--valid-key", action="append", default=None, dest="valid_keys")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed)")
    args = parser.parse_args(argv)
    fake = FakeUpstream(
        reply=args.reply,
        token_delay=args.token_delay,
        models=[m for m in args.models.split(",") if m],
        valid_keys=args.valid_keys,
        scenario=Scenario(args.scenario, **dict(args.param)),
        host=args.host,
        port=args.port,
        tls=args.tls,
    )
    asyncio.run(fake.serve_foreground(on_ready=lambda: print(fake.base_url, flush=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
