"""A generation while it runs: its event log, its text so far, and the clients waiting for more.

`LiveGeneration` is the sink every provider streams into (`chatgate.providers.base.StreamSink`):
the adapter calls `text`, `reasoning`, `tool_call`, `usage` and `finish` from its network
callback, and each piece lands here with no task switch in between.

The log is kept whole until the generation has been finished for a while, so a client that
reconnects with `Last-Event-ID: n` gets exactly the events after `n`. Deltas and reasoning pieces
are stored as bare strings (the answer is the concatenation of the deltas); other events as small
dicts. Nothing per token grows with the length of the answer.

Once finished, the log is compacted (`FinishedLog`): its text pieces become one string with an
offsets array, read back piece by piece under the same event ids. A finished answer is kept for
the replay window (30 s by default) — at 400 streams that is some 2,000 answers — and a log of
one string per token held ~19 KB for a 256-token answer where the compacted one holds ~4 KB
(two-byte offsets while the text is under 64 KiB).
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


class _FinishedView(Sequence[Any]):
    """A finished log read by index, as the lists it replaces are (immutable)."""

    __slots__ = ("_log",)

    def __init__(self, log: FinishedLog) -> None:
        self._log = log

    def __len__(self) -> int:
        return len(self._log.codes)

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


class _Closed(list[Any]):
    """Where a compacted generation's appends would go: nowhere, loudly."""

    def append(self, item: Any) -> None:
        raise RuntimeError("an event for a generation that has finished")


_CLOSED = _Closed()


class FinishedLog:
    """A finished generation's events: kind codes, every text piece in one UTF-8 string with the
    end offset of each event in it, and the few other payloads by index."""

    __slots__ = ("codes", "ends", "others", "text")

    def __init__(self, kinds: Sequence[str], payloads: Sequence[Any]) -> None:
        self.codes = bytes(_KIND_CODES[kind] for kind in kinds)
        self.others: dict[int, Any] = {}
        pieces: list[bytes] = []
        ends: list[int] = []
        position = 0
        for index, (kind, payload) in enumerate(zip(kinds, payloads, strict=True)):
            if kind in TEXT_EVENTS:
                piece = payload.encode("utf-8", "surrogatepass")  # any str, lone surrogates too
                pieces.append(piece)
                position += len(piece)
            else:
                self.others[index] = payload
            ends.append(position)
        # Two bytes an offset while the text is under 64 KiB (nearly every answer), else four.
        self.ends = array("H" if position <= 0xFFFF else "I", ends)
        # UTF-8, not a str: one emoji would make a str four bytes for every character.
        self.text = b"".join(pieces)

    @staticmethod
    def fits(kinds: Sequence[str]) -> bool:
        return all(kind in _KIND_CODES for kind in kinds)


class _FinishedKinds(_FinishedView):
    __slots__ = ()

    def _item(self, index: int) -> str:
        return KINDS[self._log.codes[index]]


class _FinishedPayloads(_FinishedView):
    __slots__ = ()

    def _item(self, index: int) -> Any:
        log = self._log
        if index in log.others:
            return log.others[index]
        piece = log.text[log.ends[index - 1] if index else 0 : log.ends[index]]
        return piece.decode("utf-8", "surrogatepass")


class LiveGeneration:
    __slots__ = (
        "_clock",
        "_kinds",
        "_payloads",
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
        # Appended to while it runs (through `_kinds`/`_payloads`); read-only views once compacted.
        self._kinds: list[str] = []
        self._payloads: list[Any] = []
        self.kinds: Sequence[str] = self._kinds
        self.payloads: Sequence[Any] = self._payloads
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
        self._kinds.append(DELTA)
        self._payloads.append(text)
        self.dirty = True
        self.last_activity = now
        if self._waiters:
            self.wake()

    def reasoning(self, text: str) -> None:
        # Thinking is activity (the idle timeout must not fire) but not the first answer token.
        now = self._clock()
        if self.first_output_at is None:
            self.first_output_at = now
        self._kinds.append(REASONING)
        self._payloads.append(text)
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
        self._kinds.append(TOOL_CALL)
        self._payloads.append({"index": index, "id": id, "name": name, "arguments": arguments})
        self.dirty = True
        self.last_activity = now
        if self._waiters:
            self.wake()

    def choice(self, index: int, text: str | None, finish: str | None) -> None:
        self._kinds.append(CHOICE)
        if text is not None:
            self._payloads.append({"index": index, "text": text})
            self.last_activity = self._clock()
        else:
            self._payloads.append({"index": index, "finish_reason": finish})
        if self._waiters:
            self.wake()

    def logprobs(self, content: list[Any]) -> None:
        self._kinds.append(LOGPROBS)
        self._payloads.append(content)
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
        self._kinds.append(kind)
        self._payloads.append(payload)
        self.wake()

    def wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def compact(self) -> None:
        """Once finished: the log as one string and offsets (see the module's docstring). Readers
        that took the lists before go on reading them; they no longer change."""
        if (
            not self.finished
            or not isinstance(self.kinds, list)
            or not FinishedLog.fits(self.kinds)
        ):
            return
        log = FinishedLog(self.kinds, self.payloads)
        self.kinds, self.payloads = _FinishedKinds(log), _FinishedPayloads(log)
        self._kinds = self._payloads = _CLOSED

    # -- reading ------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """Id of the latest event (ids start at 1)."""
        return len(self.kinds)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def _joined(self, kind: str) -> str:
        return "".join(p for k, p in zip(self.kinds, self.payloads, strict=True) if k == kind)

    def pieces_since(self, start: int, end: int) -> tuple[str, str]:
        """The answer and reasoning text of events [start, end): what a checkpoint appends."""
        kinds, payloads = self.kinds, self.payloads
        text = [payloads[i] for i in range(start, end) if kinds[i] == DELTA]
        reasoning = [payloads[i] for i in range(start, end) if kinds[i] == REASONING]
        return "".join(text), "".join(reasoning)

    def text_so_far(self) -> str:
        """The whole answer: a continued answer's earlier text, then what was generated."""
        return self.prefix + self._joined(DELTA)

    def generated_text(self) -> str:
        return self._joined(DELTA)

    def reasoning_so_far(self) -> str:
        return self.reasoning_prefix + self._joined(REASONING)

    def other_choices(self) -> dict[int, tuple[str, str | None]]:
        """With `n` > 1: each other choice's text and finish reason, by index."""
        found: dict[int, tuple[str, str | None]] = {}
        for kind, payload in zip(self.kinds, self.payloads, strict=True):
            if kind == CHOICE:
                text, reason = found.get(payload["index"], ("", None))
                found[payload["index"]] = (
                    text + payload.get("text", ""),
                    payload.get("finish_reason") or reason,
                )
        return found

    def logprobs_so_far(self) -> list[Any]:
        return [
            e for k, p in zip(self.kinds, self.payloads, strict=True) if k == LOGPROBS for e in p
        ]

    def tool_calls(self) -> list[dict[str, Any]]:
        """The whole function calls made so far, in index order: `[{id, name, arguments}]`."""
        pieces = [p for k, p in zip(self.kinds, self.payloads, strict=True) if k == TOOL_CALL]
        return tool_call_parts(pieces) if pieces else []

    async def wait(self) -> None:
        """Until the next event (or a heartbeat nudge)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter.cancelled():  # this reader left
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
