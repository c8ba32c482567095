"""How a secret is shown where people can see it (`chatgate doctor`, the chatgpt-web mapping):
enough to tell two apart, never enough to use."""

from __future__ import annotations


def mask_secret(value: str) -> str:
    """`sk-…wxyz` for long keys (enough to tell two apart); short secrets show nothing."""
    if len(value) < 20:
        return "•" * 8
    return f"{value[:3]}…{value[-4:]}"


def mask_proxy(url: str) -> str:
    """Hide a proxy URL's password, keep the rest readable."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, hostpart = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:••••@{hostpart}"
