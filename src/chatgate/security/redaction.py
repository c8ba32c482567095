"""Secrets never leave the process: masking by literal value and by shape.

Every configured secret (API keys, ChatGPT access tokens, passwords inside proxy, upstream,
database and Redis URLs, the shared access password, the configured instance secret) is
registered here at startup (`register_secrets_from`, called where the providers are built), and
`redact` masks each of them wherever it appears, whatever its shape. On top of that it masks the
usual shapes of credentials ChatGate was not told about (an upstream that echoes some other key):
`sk-…`, `sk-ant-…`, `gsk_…`, `AIza…`, JWTs, `Bearer …`, `api-key: …` / `key=…`, URL passwords
and long hexadecimal runs.

`redact` runs on upstream error text (before it becomes an error message, a stored message, an
admin-visible reason or a log field) and on every log line. It is one compiled regex, rebuilt
only when a new secret is registered; it never runs per streamed token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

if TYPE_CHECKING:
    from chatgate.config import Settings

MASK = "•••"
# Shorter values are not credentials anyone issues (and masking them would garble ordinary words:
# "ollama", "EMPTY" and "lm-studio" are the documented dummy keys of local servers).
MIN_LITERAL_LENGTH = 8

# The shapes of credentials, for the ones ChatGate was not told about. A named `k…` group is
# kept in front of the mask, so the administrator still sees which kind of thing was there.
_B = r"(?<![A-Za-z0-9])"  # not inside a word: "task-force" is no key
_PATTERNS = (
    _B + r"(?P<k1>sk-ant-)[A-Za-z0-9_\-]{8,}",  # Anthropic
    _B + r"(?P<k2>sk-)[A-Za-z0-9_\-*]{4,}",  # OpenAI, DeepSeek, OpenRouter (sk-or-…)…
    _B + r"(?P<k3>gsk_)[A-Za-z0-9]{8,}",  # Groq
    _B + r"(?P<k4>AIza)[0-9A-Za-z_\-]{20,}",  # Google (Gemini)
    _B + r"eyJ[A-Za-z0-9_\-.]{10,}",  # JWTs: ChatGPT access tokens
    r"(?P<k5>(?i:bearer)\s+)[^\s\"',;]+",
    _B + r"(?P<k6>(?i:(?:api[-_]?)?key)[\"']?\s*[=:]\s*[\"']?)[^\s\"',;&]+",  # api-key: …, key=…
    r"(?P<k7>://[^/@\s:]+:)[^/@\s]+(?=@)",  # scheme://user:password@host
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])",  # long hex (Azure keys, generic tokens)
)
_PATTERNS_WITHOUT_HEX = _PATTERNS[:-1]
_KEEP_GROUPS = tuple(f"k{i}" for i in range(1, 8))

_lock = threading.Lock()
_literals: frozenset[str] = frozenset()
_with_hex: re.Pattern[str]
_without_hex: re.Pattern[str]


def _compile(literals: Iterable[str], patterns: tuple[str, ...]) -> re.Pattern[str]:
    # Literals first and longest first: a secret that contains another is masked whole, and a
    # registered key is masked whole even when it also starts like a known shape.
    escaped = [re.escape(s) for s in sorted(literals, key=len, reverse=True)]
    return re.compile("|".join([*escaped, *(f"(?:{p})" for p in patterns)]))


def _rebuild() -> None:
    global _with_hex, _without_hex
    _with_hex = _compile(_literals, _PATTERNS)
    _without_hex = _compile(_literals, _PATTERNS_WITHOUT_HEX)


def _mask(match: re.Match[str]) -> str:
    groups = match.groupdict()
    for name in _KEEP_GROUPS:
        kept = groups.get(name)
        if kept is not None:
            return kept + MASK
    return MASK


def redact(text: str, *, hex_runs: bool = True) -> str:
    """`text` with every registered secret and every secret-shaped run masked.

    `hex_runs=False` leaves long hexadecimal runs alone (ChatGate's own ids are 32 hex digits:
    log lines keep them); registered secrets are masked whatever their shape.
    """
    if not text:
        return text
    pattern = _with_hex if hex_runs else _without_hex
    return pattern.sub(_mask, text)


def register_secret(value: str | None) -> None:
    """Mask `value` from now on, wherever it appears. Short values are ignored (see above)."""
    register_secrets([value] if value else [])


def register_secrets(values: Iterable[str | None]) -> None:
    global _literals
    fresh = {v.strip() for v in values if v and len(v.strip()) >= MIN_LITERAL_LENGTH}
    with _lock:
        if fresh <= _literals:
            return
        _literals = _literals | fresh
        _rebuild()


def _url_secrets(url: str | None) -> list[str]:
    """The password of a URL (`socks5://user:pass@host`), as written and percent-decoded."""
    if not url or "@" not in url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    if not password:
        return []
    return [password, unquote(password)]


def _secrets_in(value: object, name: str = "") -> Iterator[str]:
    """Every `SecretStr` anywhere in a settings tree (a URL-shaped one: its password), and the
    passwords inside the plain URL settings (`database_url`, `redis_url`, `base_url`)."""
    if isinstance(value, SecretStr):
        revealed = value.get_secret_value()
        yield from _url_secrets(revealed) if "://" in revealed else [revealed]
    elif isinstance(value, str):
        if name.endswith("url"):
            yield from _url_secrets(value)
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _secrets_in(getattr(value, field), field)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item, name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets_in(item, str(key))


def register_secrets_from(settings: Settings) -> None:
    """Register every secret the configuration holds. Idempotent; called where the providers
    are built (at startup, and by the CLI commands that build them)."""
    register_secrets(_secrets_in(settings))


_rebuild()
