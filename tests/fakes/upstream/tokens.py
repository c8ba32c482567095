"""What the fake counts: the token split of a reply and the prompt token count of a request.

Tests elsewhere assert exact ledger totals against these rules (see the package docstring).
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.upstream.records import Json

__all__ = ["count_prompt_tokens", "split_tokens"]

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
