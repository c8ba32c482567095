"""The adapters' readers, specified on recorded byte streams, without sockets.

Every transcript of tests/fakes/dialects (what a real service sends, byte for byte) is fed to its
reader whole, cut in two at every byte offset, and one byte at a time; a recording sink must
see the same answer each time: the text and the reasoning exactly, kept apart, the usage the
service reported, one finish with the right reason, or the right error. Cut off at any event
boundary, a reader keeps what arrived and says whether the answer was complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from chatgate.errors import UpstreamError
from chatgate.providers.anthropic import MessagesReader
from chatgate.providers.base import StreamSink
from chatgate.providers.chatgpt_web import ConversationReader
from chatgate.providers.openai_compat import ChatCompletionsReader
from tests.fakes.dialects import DIALECTS, Transcript, events_of, params
from tests.fakes.dialects import chatgpt_web as web


class Reader(Protocol):
    @property
    def finished(self) -> bool: ...

    def feed(self, data: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass
class Recording:
    """A StreamSink that writes down every call."""

    texts: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    usages: list[tuple[int | None, int | None]] = field(default_factory=list)
    finishes: list[tuple[str | None, dict[str, Any] | None]] = field(default_factory=list)
    calls: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)
    probs: list[Any] = field(default_factory=list)
    choices: list[tuple[int, str | None, str | None]] = field(default_factory=list)

    def text(self, text: str) -> None:
        assert text, "an empty text piece"
        self.texts.append(text)

    def reasoning(self, text: str) -> None:
        assert text, "an empty reasoning piece"
        self.thoughts.append(text)

    def tool_call(self, index: int, id: str | None, name: str | None, arguments: str) -> None:
        self.calls.append((index, id, name, arguments))

    def choice(self, index: int, text: str | None, finish: str | None) -> None:
        self.choices.append((index, text, finish))

    def logprobs(self, content: list[Any]) -> None:
        self.probs.extend(content)

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.usages.append((prompt_tokens, completion_tokens))

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None:
        self.finishes.append((reason, state))


def reader_for(transcript: Transcript, sink: StreamSink) -> Reader:
    if transcript.protocol == "openai":
        return ChatCompletionsReader("svc", sink)
    if transcript.protocol == "anthropic":
        return MessagesReader("svc", sink)
    return ConversationReader("svc", sink, user_message_id=web._UID, parent_message_id="p-0")


@dataclass
class Outcome:
    sink: Recording
    reader: Reader
    error: UpstreamError | None

    @property
    def text(self) -> str:
        return "".join(self.sink.texts)

    @property
    def reasoning(self) -> str:
        return "".join(self.sink.thoughts)


def read(transcript: Transcript, pieces: Iterable[bytes], *, close: bool = True) -> Outcome:
    sink = Recording()
    reader = reader_for(transcript, sink)
    error: UpstreamError | None = None
    try:
        for piece in pieces:
            reader.feed(piece)
        if close:
            reader.close()
    except UpstreamError as exc:
        error = exc
    return Outcome(sink, reader, error)


def assert_read_right(transcript: Transcript, outcome: Outcome, how: str) -> None:
    where = f"{transcript.name}, {how}"
    assert outcome.text == transcript.text, where
    assert outcome.reasoning == transcript.reasoning, where
    reported = outcome.sink.usages[-1] if outcome.sink.usages else None
    assert reported == transcript.usage, where
    if transcript.final == "error":
        assert outcome.error is not None, where
        assert outcome.error.code == transcript.error_code, where
        assert outcome.sink.finishes == [], where
    else:
        assert outcome.error is None, f"{where}: {outcome.error!r}"
        assert [reason for reason, _ in outcome.sink.finishes] == [transcript.finish], where
        assert outcome.reader.finished, where


def two_pieces(body: bytes) -> Iterator[tuple[int, list[bytes]]]:
    for offset in range(len(body) + 1):
        yield offset, [body[:offset], body[offset:]]


NAMES = params()


@pytest.mark.parametrize("name", NAMES)
def test_the_whole_body_and_event_by_event(name: str) -> None:
    transcript = DIALECTS[name]
    assert_read_right(transcript, read(transcript, [transcript.body]), "whole")
    assert_read_right(transcript, read(transcript, transcript.events()), "event by event")


@pytest.mark.parametrize("name", NAMES)
def test_cut_in_two_at_every_byte(name: str) -> None:
    transcript = DIALECTS[name]
    for offset, pieces in two_pieces(transcript.body):
        assert_read_right(transcript, read(transcript, pieces), f"cut at byte {offset}")


@pytest.mark.parametrize("name", NAMES)
def test_one_byte_at_a_time(name: str) -> None:
    transcript = DIALECTS[name]
    body = transcript.body
    outcome = read(transcript, (body[i : i + 1] for i in range(len(body))))
    assert_read_right(transcript, outcome, "byte by byte")


@pytest.mark.parametrize("name", NAMES)
def test_a_stream_cut_off_at_any_event_keeps_what_arrived(name: str) -> None:
    """The body ends early (a proxy dropped it, the service died): what arrived is kept, and
    `close` either raises "ended early" or tells the one finish, never both, never neither."""
    transcript = DIALECTS[name]
    events = events_of(transcript.body)
    for count in range(len(events)):
        outcome = read(transcript, events[:count])
        how = f"{transcript.name}, cut after {count} of {len(events)} events"
        assert transcript.text.startswith(outcome.text), how
        assert transcript.reasoning.startswith(outcome.reasoning), how
        if outcome.error is None:
            assert len(outcome.sink.finishes) == 1, how
        else:
            assert outcome.sink.finishes == [], how
            if transcript.final == "complete":
                assert outcome.error.retryable, how  # retried only while no text arrived


def test_chatgpt_web_hands_over_the_ids_that_continue_the_thread() -> None:
    outcome = read(DIALECTS["chatgpt_web"], [DIALECTS["chatgpt_web"].body])
    [(_, state)] = outcome.sink.finishes
    assert state is not None
    assert state["conversation_id"] == web._CID
    assert state["message_id"] == web._MID


def test_openai_dialect_text_arrives_in_the_pieces_the_service_sent() -> None:
    """O(1) pieces: every delta is told as it comes, never the text so far again."""
    outcome = read(DIALECTS["openai"], DIALECTS["openai"].events())
    assert outcome.sink.texts == [
        "Hello",
        "! Café",
        " ☕ costs 3 €",
        ".\n\n你好",
        '，世界 🌍 "quoted"',
        " and `code`.",
    ]


def test_chatgpt_web_cumulative_text_becomes_deltas() -> None:
    outcome = read(DIALECTS["chatgpt_web"], DIALECTS["chatgpt_web"].events())
    assert outcome.sink.texts == ["Salut", " ! Ça va", " ? 🌍", " Voilà — 你好."]
