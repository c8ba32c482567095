"""A small reader of server-sent events, fed from the network callback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str


class SSEParser:
    """Server-sent events from bytes fed in any split: LF or CRLF, comments, fields cut anywhere.

    Lines are split on bytes before decoding, so a multi-byte character cut between two network
    packets is reassembled. `feed` is synchronous so it can run inside a protocol callback.
    """

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if (
            not self._buffer
            and not self._data
            and chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and b"\n" not in chunk[6:-2]
            and b"\r" not in chunk
        ):
            # The common packet: exactly one event of one data line (what the loop below
            # would find, without splitting it into lines).
            event = SSEEvent(self._event or "message", chunk[6:-2].decode("utf-8", "replace"))
            self._event = ""
            return [event]
        events: list[SSEEvent] = []
        buffer = self._buffer + chunk if self._buffer else chunk
        start = 0
        while True:
            newline = buffer.find(b"\n", start)
            if newline < 0:
                break
            line = buffer[start:newline]
            start = newline + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append(
                        SSEEvent(
                            self._event or "message",
                            b"\n".join(self._data).decode("utf-8", "replace"),
                        )
                    )
                self._event, self._data = "", []
                continue
            if line[0] == 58:  # ":" comment / keep-alive
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[SSEEvent]:
        """An event left without its blank line at the end of the stream."""
        events = self.feed(b"\n\n") if self._buffer else []
        if self._data:
            events.append(
                SSEEvent(
                    self._event or "message", b"\n".join(self._data).decode("utf-8", "replace")
                )
            )
            self._data = []
        return events
