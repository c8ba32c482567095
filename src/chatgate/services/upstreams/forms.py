"""What the console's forms may say about an upstream: a known kind (not the local model, which is
the file's), an http(s) base URL without credentials in it, a proxy of a supported scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

from chatgate.config import PROVIDER_NAME_PATTERN, ProviderKind
from chatgate.errors import ValidationFailed
from chatgate.providers.client import PROXY_SCHEMES

__all__ = ["PROVIDER_NAME_PATTERN", "check_base_url", "check_kind", "check_proxy", "same_origin"]


def check_kind(kind: str) -> ProviderKind:
    try:
        chosen = ProviderKind(kind)
    except ValueError:
        raise ValidationFailed(f"Unknown kind {kind!r}.") from None
    if chosen is ProviderKind.local:
        raise ValidationFailed("The local model is configured in chatgate.toml, not here.")
    return chosen


def check_base_url(kind: ProviderKind, url: str | None) -> str | None:
    """An http(s) origin and path; private addresses are fine (an Ollama on the LAN)."""
    if not url:
        if kind in (ProviderKind.azure, ProviderKind.chatgpt_web):
            raise ValidationFailed(f"A {kind.value} provider needs its base URL.")
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("The base URL must start with http:// or https:// and name a host.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed(
            "The base URL must not carry a user name, password, query or fragment: "
            "put the key in the key field."
        )
    return url.strip().rstrip("/")


def check_proxy(proxy: str | None) -> str | None:
    if not proxy:
        return None
    if not proxy.startswith(PROXY_SCHEMES):
        raise ValidationFailed(f"The proxy must start with one of {', '.join(PROXY_SCHEMES)}.")
    return proxy.strip()


def _origin(url: str | None) -> tuple[str, str, int | None] | None:
    if not url:
        return None
    parts = urlsplit(url)
    return (parts.scheme, parts.hostname or "", parts.port)


def same_origin(a: str | None, b: str | None) -> bool:
    """Whether a key saved for `b` may go to `a` (same scheme, host and port)."""
    return _origin(a) == _origin(b)
