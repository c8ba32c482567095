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

Modules
-------
* :mod:`.server` - :class:`FakeUpstream`: routing, keys, the scenario queue, the records.
* :mod:`.openai_wire`, :mod:`.anthropic_wire`, :mod:`.chatgpt_web_wire`, :mod:`.ollama_wire` -
  each service's shapes: errors, request checks, stream events, whole replies, model lists.
* :mod:`.scenarios` - the scenario names and parameters; :mod:`.replies` plays them on the wire.
* :mod:`.tokens` - the token and usage rules above; :mod:`.wire` - one connection, SSE writing.
* :mod:`.control` - the ``/__control/`` plane; :mod:`.cli` - the command line.
"""

from __future__ import annotations

from tests.fakes.upstream.chatgpt_web_wire import BUSY_DETAIL
from tests.fakes.upstream.cli import main
from tests.fakes.upstream.openai_wire import DEEPSEEK_REASONING_SENT_BACK
from tests.fakes.upstream.records import ChatGptTurn, RecordedRequest
from tests.fakes.upstream.scenarios import SCENARIOS, Scenario
from tests.fakes.upstream.server import FakeUpstream, Reply
from tests.fakes.upstream.tokens import count_prompt_tokens, split_tokens
from tests.fakes.upstream.wire import split_for_wire

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
