"""A generation while it runs: its event log, its text so far, and the clients waiting for more.

`LiveGeneration` is the sink every provider streams into (`chatgate.providers.base.StreamSink`):
the adapter calls `text`, `reasoning`, `tool_call`, `usage` and `finish` from its network
callback, and each piece lands here with no task switch in between.

The log is kept whole until the generation has been finished for a while, so a client that
reconnects with `Last-Event-ID: n` gets exactly the events after `n`. It is one growing UTF-8
buffer of the text pieces (deltas and reasoning) with an offsets array and a kind code per event,
and the few other payloads as small dicts (`EventLog`): not an object per token. Nothing per
token grows with the length of the answer.

A finished answer is kept for the replay window (5 s by default) — at 400 streams of 5-s answers
that is some 400 answers. A string per token held ~19 KB for a 256-token answer; the log holds ~3 KB
while it runs and less once trimmed at the end (two-byte offsets while the text is under 64 KiB).
Once no reader is attached, a finished answer lets go of its text too (it is in the stored row):
a client that re-attaches having missed only the closing events gets them exactly, one that
missed text gets the stored answer whole (`reset`).
"""

from __future__ import annotations

import asyncio
import contextlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from chatgate.db.models import LIVE_STATUSES, AnswerStatus
from chatgate.providers.surface import tool_call_parts

__all__ = ["LIVE_STATUSES", "AnswerStatus", "LiveGeneration"]

START = "start"
QUEUED = "queued"
STREAMING = "streaming"
DELTA = "delta"
REASONING = "reasoning"
TOOL_CALL = "tool_call"  # {index, id, name, arguments}: one piece of a function call
LOGPROBS = "logprobs"  # [{token, logprob, bytes, top_logprobs}] of the text just before
CHOICE = "choice"  # n > 1: {index, text} or {index, finish_reason} of another choice
RESET = "reset"
USAGE = "usage"
TITLE = "title"
ERROR = "error"
DONE = "done"

# Events whose payload is a bare string piece of text (framed as {"text": ...} on the wire).
TEXT_EVENTS = frozenset({DELTA, REASONING})
KINDS: tuple[str, ...] = (START, QUEUED, STREAMING, DELTA, REASONING, TOOL_CALL, LOGPROBS)
KINDS += (CHOICE, RESET, USAGE, TITLE, ERROR, DONE)
_KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}
_DELTA_CODE, _REASONING_CODE = _KIND_CODES[DELTA], _KIND_CODES[REASONING]


class EventLog:
    """A generation's events by index: one kind code each, every text piece in one growing UTF-8
    buffer with the end offset of each event in it, and the few other payloads by index.

    A delta costs about a dozen bytes here (its UTF-8, four bytes of offset, one of code) where a
    string per token and two list slots cost some 70; a finished log is trimmed (`freeze`) and
    kept as it is for the replay window."""

    __slots__ = ("codes", "ends", "others", "text")

    def __init__(self) -> None:
        self.codes: bytearray | bytes = bytearray()
        self.ends = array("I")
        self.others: dict[int, Any] = {}
        # UTF-8, not a str: one emoji would make a str four bytes for every character.
        self.text: bytearray | bytes = bytearray()

    def __len__(self) -> int:
        return len(self.codes)

    def add_text(self, code: int, piece: str) -> None:
        text, codes = self.text, self.codes
        if not isinstance(codes, bytearray) or not isinstance(text, bytearray):
            raise RuntimeError("an event for a generation that has finished")
        text += piece.encode("utf-8", "surrogatepass")  # any str, lone surrogates too
        codes.append(code)
        self.ends.append(len(text))

    def add(self, kind: str, payload: Any) -> None:
        codes = self.codes
        if not isinstance(codes, bytearray):
            raise RuntimeError("an event for a generation that has finished")
        code = _KIND_CODES.get(kind)
        if code is None:
            raise ValueError(f"unknown event kind {kind!r}")
        if kind in TEXT_EVENTS:
            self.add_text(code, payload)
            return
        self.others[len(codes)] = payload
        codes.append(code)
        self.ends.append(len(self.text))

    def kind(self, index: int) -> str:
        return KINDS[self.codes[index]]

    def payload(self, index: int) -> Any:
        others = self.others
        if index in others:
            return others[index]
        ends = self.ends
        piece = self.text[ends[index - 1] if index else 0 : ends[index]]
        return piece.decode("utf-8", "surrogatepass")

    def others_of(self, kind: str) -> list[Any]:
        """The payloads of the events of a kind that is not text, in order: found among the few
        other payloads, without decoding a piece of text (every answer's finish asks)."""
        code, codes = _KIND_CODES[kind], self.codes
        return [payload for index, payload in self.others.items() if codes[index] == code]

    def joined(self, code: int, start: int = 0, end: int | None = None) -> str:
        """The text of the events of kind `code` among [start, end), as one string."""
        codes, ends, text = self.codes, self.ends, self.text
        end = len(codes) if end is None else end
        if start >= end:
            return ""
        first = ends[start - 1] if start else 0
        other = _REASONING_CODE if code == _DELTA_CODE else _DELTA_CODE
        if other not in codes[start:end]:  # the usual case: one kind of text only
            return text[first : ends[end - 1]].decode("utf-8", "surrogatepass")
        pieces = []
        for index in range(start, end):
            last = ends[index]
            if codes[index] == code:
                pieces.append(text[first:last])
            first = last
        return b"".join(pieces).decode("utf-8", "surrogatepass")

    def freeze(self) -> None:
        """Once finished: exact-size buffers, and two-byte offsets while the text is under 64 KiB
        (nearly every answer). Nothing can be added after."""
        self.codes = bytes(self.codes)
        self.text = bytes(self.text)
        if len(self.text) <= 0xFFFF:
            self.ends = array("H", self.ends)

    def has_text_after(self, index: int) -> bool:
        """Whether any event after the first `index` is a piece of text (answer or reasoning)."""
        tail = self.codes[index:]
        return _DELTA_CODE in tail or _REASONING_CODE in tail

    def without_text(self) -> TextlessLog:
        """The same events, kinds and other payloads without the text pieces' bytes (a copy: a
        reader already following this log keeps it whole)."""
        return TextlessLog(bytes(self.codes), self.others)


class TextlessLog(EventLog):
    """A finished answer's log once its text is only in its stored row: every event's kind and
    the other payloads, so a client that has all the text still gets the closing events exactly;
    the text itself is read from storage (`LiveGeneration.replays_from`)."""

    __slots__ = ()

    def __init__(self, codes: bytes, others: dict[int, Any]) -> None:
        self.codes = codes
        self.ends = array("H")
        self.others = others
        self.text = b""

    def payload(self, index: int) -> Any:
        if index in self.others:
            return self.others[index]
        raise LookupError("this answer's text is read from its stored row, not from memory")

    def joined(self, code: int, start: int = 0, end: int | None = None) -> str:
        raise LookupError("this answer's text is read from its stored row, not from memory")


class _LogView(Sequence[Any]):
    """The log read by index, as lists are (for readers that want a sequence)."""

    __slots__ = ("_log",)

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def __len__(self) -> int:
        return len(self._log)

    def _item(self, index: int) -> Any:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._item(index)

    def __iter__(self) -> Iterator[Any]:
        return (self._item(i) for i in range(len(self)))


class _Kinds(_LogView):
    __slots__ = ()

    def _item(self, index: int) -> str:
        return self._log.kind(index)


class _Payloads(_LogView):
    __slots__ = ()

    def _item(self, index: int) -> Any:
        return self._log.payload(index)


class LiveGeneration:
    __slots__ = (
        "_clock",
        "_loop",
        "_waiters",
        "admitted_at",
        "completion_tokens",
        "conversation_id",
        "credential",
        "dirty",
        "error",
        "finish_reason",
        "finished_at",
        "first_output_at",
        "first_token_at",
        "id",
        "kinds",
        "last_activity",
        "log",
        "model",
        "payloads",
        "prefix",
        "prompt_tokens",
        "provider",
        "provider_state",
        "reasoning_prefix",
        "saved_upto",
        "status",
        "stop_reason",
        "stored",
        "subscribers",
        "task",
        "usage_id",
        "user_id",
        "user_message_id",
    )

    def __init__(
        self,
        *,
        id: str,
        user_id: str,
        conversation_id: str,
        user_message_id: str,
        model: str,
        provider: str,
        prefix: str = "",
        reasoning_prefix: str = "",
        clock: Callable[[], float],
    ) -> None:
        self.id = id
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.user_message_id = user_message_id
        self.model = model
        self.provider = provider
        self.prefix = prefix  # text of an answer being continued
        self.reasoning_prefix = reasoning_prefix  # … and its reasoning
        self.status = AnswerStatus.queued
        self.log = EventLog()
        # The log as sequences, for readers off the per-token path (the hot ones read `log`).
        self.kinds: Sequence[str] = _Kinds(self.log)
        self.payloads: Sequence[Any] = _Payloads(self.log)
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.error: dict[str, Any] | None = None  # {code, message, …extras} when it failed
        self.provider_state: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop_reason: str | None = None
        self.dirty = False
        # Events [0, saved_upto) are in the stored row (which starts as the prefix); -1 when a
        # checkpoint's outcome is unknown and the next one must rewrite the whole text.
        self.saved_upto = 0
        self.subscribers = 0
        self._clock = clock
        self.admitted_at: float | None = None
        self.first_token_at: float | None = None  # the first piece of the answer
        self.first_output_at: float | None = None  # … or of reasoning: nothing is retried after
        self.last_activity = clock()
        self.finished_at: float | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.usage_id = ""
        self.stored = True  # False for /v1 answers, which live only in the ledger
        self.credential: str | None = None
        self.finish_reason: str | None = None

    # -- the sink: called by the provider as the answer arrives ------------------------------
    def text(self, text: str) -> None:
        """The per-token path: append, mark for the next checkpoint, wake the readers."""
        now = self._clock()
        if self.first_token_at is None:
            self.first_token_at = now
            if self.first_output_at is None:
                self.first_output_at = now
        self.log.add_text(_DELTA_CODE, text)
        self.dirty = True
        self.last_activity = now
        if self._waiters:
            self.wake()

    def reasoning(self, text: str) -> None:
        # Thinking is activity (the idle timeout must not fire) but not the first answer token.
        now = self._clock()
        if self.first_output_at is None:
            self.first_output_at = now
        self.log.add_text(_REASONING_CODE, text)
        self.dirty = True
        self.last_activity = now
        if self._waiters:
            self.wake()

    def tool_call(self, index: int, id: str | None, name: str | None, arguments: str) -> None:
        # A piece of a function call is answer output: nothing is retried after it.
        now = self._clock()
        if self.first_token_at is None:
            self.first_token_at = now
            if self.first_output_at is None:
                self.first_output_at = now
        self.log.add(TOOL_CALL, {"index": index, "id": id, "name": name, "arguments": arguments})
        self.dirty = True
        self.last_activity = now
        if self._waiters:
            self.wake()

    def choice(self, index: int, text: str | None, finish: str | None) -> None:
        if text is not None:
            self.log.add(CHOICE, {"index": index, "text": text})
            self.last_activity = self._clock()
        else:
            self.log.add(CHOICE, {"index": index, "finish_reason": finish})
        if self._waiters:
            self.wake()

    def logprobs(self, content: list[Any]) -> None:
        self.log.add(LOGPROBS, content)
        if self._waiters:
            self.wake()

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None:
        self.finish_reason = reason
        if state:
            self.provider_state = state

    # -- other events -------------------------------------------------------------------------
    def emit(self, kind: str, payload: Any) -> None:
        self.log.add(kind, payload)
        self.wake()

    def wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def compact(self) -> None:
        """Once finished: the log trimmed to size for the replay window (see `EventLog.freeze`).
        Nothing can be added after."""
        if self.finished and isinstance(self.log.codes, bytearray):
            self.log.freeze()

    def let_go_of_text(self) -> None:
        """Once finished and stored with no reader attached: keep the events' kinds and closing
        payloads for the replay window, not the text (it is in the stored row). Readers that
        attached before keep the whole log they hold."""
        if self.finished and not isinstance(self.log, TextlessLog):
            self.log = self.log.without_text()
            self.kinds = _Kinds(self.log)
            self.payloads = _Payloads(self.log)

    def replays_from(self, after: int) -> bool:
        """Whether the events after `after` can be sent from memory: always while the text is
        held; once it is let go of, only if none of them is text (the client missed at most the
        closing events). Otherwise the stored answer is sent whole."""
        return not isinstance(self.log, TextlessLog) or not self.log.has_text_after(after)

    # -- reading ------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """Id of the latest event (ids start at 1)."""
        return len(self.log)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def pieces_since(self, start: int, end: int) -> tuple[str, str]:
        """The answer and reasoning text of events [start, end): what a checkpoint appends."""
        log = self.log
        return log.joined(_DELTA_CODE, start, end), log.joined(_REASONING_CODE, start, end)

    def text_so_far(self) -> str:
        """The whole answer: a continued answer's earlier text, then what was generated."""
        return self.prefix + self.log.joined(_DELTA_CODE)

    def generated_text(self) -> str:
        return self.log.joined(_DELTA_CODE)

    def reasoning_so_far(self) -> str:
        return self.reasoning_prefix + self.log.joined(_REASONING_CODE)

    def other_choices(self) -> dict[int, tuple[str, str | None]]:
        """With `n` > 1: each other choice's text and finish reason, by index."""
        found: dict[int, tuple[str, str | None]] = {}
        for payload in self.log.others_of(CHOICE):
            text, reason = found.get(payload["index"], ("", None))
            found[payload["index"]] = (
                text + payload.get("text", ""),
                payload.get("finish_reason") or reason,
            )
        return found

    def logprobs_so_far(self) -> list[Any]:
        return [entry for piece in self.log.others_of(LOGPROBS) for entry in piece]

    def tool_calls(self) -> list[dict[str, Any]]:
        """The whole function calls made so far, in index order: `[{id, name, arguments}]`."""
        pieces = self.log.others_of(TOOL_CALL)
        return tool_call_parts(pieces) if pieces else []

    async def wait(self) -> None:
        """Until the next event (or a heartbeat nudge)."""
        # The loop is looked up once: `get_running_loop` makes a getpid() system call each time
        # on Python 3.11, and readers wait once per token.
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter.cancelled():  # this reader left
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
