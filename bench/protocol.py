"""What the fake upstream and the driver agree on: token text, run markers, per-request options.

Every token is `w00001 `: seven characters whose number is the token's sequence number (from 1),
so a token can be matched across any number of layers. The last user message carries a run marker
(`RUN-<hex>`) under which the fake records its timings, and may override the reply shape with
`tokens=`, `rate=` and `ttft=` (milliseconds).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

TOKEN_CHARS = 7
TOKEN_RE = re.compile(rb"w(\d{5}) ")
MARKER_RE = re.compile(r"RUN-([0-9a-f]{8,32})")
OPTION_RE = re.compile(r"\b(tokens|rate|ttft)=(\d+(?:\.\d+)?)")


def token(seq: int) -> str:
    """The text of token number `seq` (1-based)."""
    return f"w{seq:05d} "


def answer(tokens: int) -> str:
    """The whole answer the fake gives with `tokens` tokens."""
    return "".join(token(i) for i in range(1, tokens + 1))


def new_marker() -> str:
    return uuid.uuid4().hex[:20]


@dataclass(frozen=True, slots=True)
class Shape:
    """How the fake answers one request."""

    tokens: int
    rate: float  # tokens per second; 0 = all at once
    ttft: float  # seconds before the first token

    @property
    def duration(self) -> float:
        return self.ttft + (self.tokens / self.rate if self.rate > 0 else 0.0)


def prompt(marker: str, shape: Shape | None = None) -> str:
    """A user message that carries `marker` (and, optionally, a reply shape)."""
    text = f"RUN-{marker} Please answer."
    if shape is not None:
        text += f" tokens={shape.tokens} rate={shape.rate:g} ttft={shape.ttft * 1000:g}"
    return text


def parse_prompt(text: str, default: Shape) -> tuple[str | None, Shape]:
    """The marker and reply shape a user message asks for."""
    found = MARKER_RE.search(text)
    options = {name: float(value) for name, value in OPTION_RE.findall(text)}
    shape = Shape(
        tokens=int(options.get("tokens", default.tokens)),
        rate=options.get("rate", default.rate),
        ttft=options["ttft"] / 1000 if "ttft" in options else default.ttft,
    )
    return (found.group(1) if found else None), shape
