"""The upstream SSE reader, fed byte streams cut at every boundary: the events never depend on
where the network split the bytes."""

from __future__ import annotations

import re

import pytest

from chatgate.providers.sse import SSEEvent, SSEParser

EMOJI = "🌍"  # four bytes in UTF-8
CJK = "你好"  # three bytes each

STREAMS: dict[str, tuple[bytes, list[tuple[str, str]]]] = {
    "openai": (
        f'data: {{"t":"Hello {CJK}"}}\n\ndata: {{"t":"{EMOJI}!"}}\n\ndata: [DONE]\n\n'.encode(),
        [
            ("message", f'{{"t":"Hello {CJK}"}}'),
            ("message", f'{{"t":"{EMOJI}!"}}'),
            ("message", "[DONE]"),
        ],
    ),
    "crlf": (
        f"data: one {EMOJI}\r\n\r\ndata: two\r\n\r\n".encode(),
        [("message", f"one {EMOJI}"), ("message", "two")],
    ),
    "comments-and-keepalives": (
        b": OPENROUTER PROCESSING\n\n:\n\ndata: a\n: a comment inside an event\ndata: b\n\n",
        [("message", "a\nb")],
    ),
    "event-lines": (
        (
            "event: message_start\ndata: {}\n\n"
            "event: ping\ndata: {}\n\n"
            f'event: content_block_delta\r\ndata: {{"text":"{EMOJI}"}}\r\n\r\n'
            "data: no event name\n\n"
        ).encode(),
        [
            ("message_start", "{}"),
            ("ping", "{}"),
            ("content_block_delta", f'{{"text":"{EMOJI}"}}'),
            ("message", "no event name"),
        ],
    ),
    "field-forms": (
        b"data:no space\n\ndata:  two spaces\n\ndata\n\nid: 7\nretry: 10\ndata: x\n\n",
        [("message", "no space"), ("message", " two spaces"), ("message", ""), ("message", "x")],
    ),
    "multi-line-data": (
        f"data: line 1\ndata: {CJK}\ndata:\n\n".encode(),
        [("message", f"line 1\n{CJK}\n")],
    ),
    "blank-lines-without-data": (
        b"\n\n\r\n\nevent: lonely\n\ndata: real\n\n",
        [("message", "real")],
    ),
    "final-event-without-blank-line": (
        f"data: first\n\ndata: last {EMOJI}".encode(),
        [("message", "first"), ("message", f"last {EMOJI}")],
    ),
    "final-event-with-one-newline": (
        b"data: first\n\nevent: end\ndata: last\r\n",
        [("message", "first"), ("end", "last")],
    ),
    "final-event-ending-in-cr": (b"data: last\r", [("message", "last")]),
}


def _run(pieces: list[bytes]) -> list[tuple[str, str]]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return [(event.event, event.data) for event in events]


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_single_cut_gives_the_same_events(name: str) -> None:
    raw, expected = STREAMS[name]
    for cut in range(len(raw) + 1):
        assert _run([raw[:cut], raw[cut:]]) == expected, f"cut at byte {cut}"


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_byte_by_byte_and_every_pair_of_cuts(name: str) -> None:
    raw, expected = STREAMS[name]
    assert _run([raw[i : i + 1] for i in range(len(raw))]) == expected
    for first in range(len(raw) + 1):
        for second in range(first, len(raw) + 1, 3):
            pieces = [raw[:first], raw[first:second], raw[second:]]
            assert _run(pieces) == expected, f"cuts at {first} and {second}"


def test_a_character_split_between_packets_is_reassembled_not_replaced() -> None:
    raw = f"data: {EMOJI}\n\n".encode()
    start = raw.index(EMOJI.encode())
    for cut in range(start + 1, start + 4):  # inside the four bytes
        parser = SSEParser()
        assert parser.feed(raw[:cut]) == []
        assert parser.feed(raw[cut:]) == [SSEEvent("message", EMOJI)]


def test_events_come_out_as_soon_as_their_blank_line_arrives() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\ndata: b") == [SSEEvent("message", "a")]
    assert parser.feed(b"\n\n") == [SSEEvent("message", "b")]
    assert parser.close() == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert _run([b"data: \xff\xfe ok\n\n"]) == [("message", "\ufffd\ufffd ok")]


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_one_packet_per_event_or_per_line_gives_the_same_events(name: str) -> None:
    """How upstreams really send (one event per packet), which takes the parser's short way."""
    raw, expected = STREAMS[name]
    per_event = [piece for piece in re.split(rb"(?<=\n\n)", raw) if piece]
    assert _run(per_event) == expected
    assert _run(raw.splitlines(keepends=True)) == expected


def test_an_event_name_from_an_earlier_packet_names_the_next_one_only() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: delta\n") == []
    assert parser.feed(b"data: x\n\n") == [SSEEvent("delta", "x")]
    assert parser.feed(b"data: y\n\n") == [SSEEvent("message", "y")]
