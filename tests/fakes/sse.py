"""A small, spec-compliant (WHATWG HTML §9.2) incremental Server-Sent Events parser for tests.

Feed it raw bytes exactly as they come off the wire, in any split: lines may end in LF, CR or
CRLF (also a CR and its LF in different chunks), multi-byte UTF-8 characters may be split across
chunks, comments (``:``) and unknown fields are ignored, and an unterminated event at EOF is
dropped as the spec requires.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SseParser:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._buf = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self.comments: list[str] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._buf += text
        events: list[SseEvent] = []
        pos = 0
        buf = self._buf
        length = len(buf)
        while pos < length:
            cr = buf.find("\r", pos)
            lf = buf.find("\n", pos)
            if cr < 0 and lf < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr + 1 == length:
                    break  # a CR at the end: wait, it may be the first half of CRLF
                end, nxt = cr, cr + 2 if buf[cr + 1] == "\n" else cr + 1
            else:
                end, nxt = lf, lf + 1
            self._line(buf[pos:end], events)
            pos = nxt
        self._buf = buf[pos:]
        return events

    def close(self) -> list[SseEvent]:
        """End of stream: flush the decoder (raises on a truncated UTF-8 sequence)."""
        rest = self._decoder.decode(b"", final=True)
        events = self.feed(rest.encode()) if rest else []
        if self._buf.endswith("\r"):
            self._line(self._buf[:-1], events)
            self._buf = ""
        return events

    def _line(self, line: str, events: list[SseEvent]) -> None:
        if not line:
            if self._data:
                events.append(
                    SseEvent(
                        data="\n".join(self._data),
                        event=self._event or "message",
                        id=self._last_id,
                        retry=self._retry,
                    )
                )
            self._data = []
            self._event = ""
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)


def parse_sse(raw: bytes | list[bytes]) -> list[SseEvent]:
    """Parse a whole stream (or its list of raw chunks) into events."""
    parser = SseParser()
    chunks = [raw] if isinstance(raw, bytes) else raw
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events
