"""The HTTP side shared by the adapters: one pooled client per credential, proxies, upstream
error bodies turned into clear errors, and a small SSE reader.

httpx's defaults (100 connections, 5 s timeouts) are wrong for long streams: the pool is sized
from the credential's concurrency, and the read timeout only guards against a dead connection —
first-token and idle timeouts are enforced by the generation service.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from chatgate.errors import UpstreamAuth, UpstreamError, UpstreamRateLimited, UpstreamTimeout

PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")
_SECRETS = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{4,}|Bearer\s+\S+|eyJ[A-Za-z0-9_\-.]{10,}|key[=:]\s*\S+)", re.I
)


def redact(text: str) -> str:
    return _SECRETS.sub("•••", text)


def build_client(
    *,
    proxy: str | None,
    concurrency: int,
    connect_timeout: float,
    read_timeout: float,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    if proxy is not None and not proxy.startswith(PROXY_SCHEMES):
        raise ValueError(f"proxy must start with one of {', '.join(PROXY_SCHEMES)}")
    return httpx.AsyncClient(
        proxy=proxy,
        # Retries are ours (before the first token only); never follow redirects to other hosts
        # with the key attached.
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=30.0, pool=read_timeout
        ),
        limits=httpx.Limits(
            max_connections=max(2, concurrency * 2),
            max_keepalive_connections=max(2, concurrency * 2),
            keepalive_expiry=60.0,
        ),
        headers=headers,
    )


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        from chatgate.ids import utcnow

        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


def _message_in(body: bytes) -> str | None:
    """The human message inside the usual JSON error shapes (OpenAI, Anthropic, ChatGPT web)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail"))
        if isinstance(error, dict):
            message = error.get("message") or error.get("type")
            return str(message) if message else None
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return None


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:200].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype html", b"<html"))


def error_from_response(
    provider: str, status: int, headers: httpx.Headers, body: bytes
) -> UpstreamError:
    """An upstream error response as a clear error: a message for the user, details for the log."""
    content_type = headers.get("content-type", "")
    upstream_message = None if _looks_like_html(body, content_type) else _message_in(body)
    detail = f"{provider}: HTTP {status} " + (
        "(an HTML error page: a proxy, a firewall or a Cloudflare challenge answered instead of the API)"
        if upstream_message is None and _looks_like_html(body, content_type)
        else redact((upstream_message or body[:300].decode("utf-8", "replace")).strip())
    )
    retry_after = retry_after_seconds(headers.get("retry-after"))
    error: UpstreamError
    if status == 429:
        error = UpstreamRateLimited(retryable=True, retry_after=retry_after, detail=detail)
    elif status in (401, 403):
        error = UpstreamAuth(detail=detail)
    elif status == 407:
        error = UpstreamError(
            "The outbound proxy refused ChatGate's proxy credentials; the administrator must check the proxy settings.",
            detail=f"{provider}: HTTP 407 from the outbound proxy",
        )
    elif status in (408, 504, 524):
        error = UpstreamTimeout(retryable=True, retry_after=retry_after, detail=detail)
    elif status >= 500:
        message = f"The AI service had an internal error (HTTP {status}). Try again."
        error = UpstreamError(message, retryable=True, retry_after=retry_after, detail=detail)
    else:
        said = redact(upstream_message)[:500] if upstream_message else f"HTTP {status}"
        error = UpstreamError(f"The AI service refused the request: {said}", detail=detail)
    return error


def transport_error(provider: str, exc: httpx.HTTPError, *, before_response: bool) -> UpstreamError:
    """A connection-level failure as a user-facing error; retryable only before any response."""
    detail = f"{provider}: {type(exc).__name__}: {redact(str(exc))[:300]}"
    kind: type[UpstreamError] = UpstreamError
    if isinstance(exc, httpx.ConnectTimeout):
        kind, message = UpstreamTimeout, "Could not connect to the AI service in time."
    elif isinstance(exc, httpx.ProxyError):
        message = "The outbound proxy refused or failed the connection to the AI service."
    elif isinstance(exc, httpx.ConnectError):
        message = "Could not connect to the AI service."
    elif isinstance(exc, httpx.TimeoutException):
        kind, message = UpstreamTimeout, "The AI service stopped responding."
    else:
        message = "The connection to the AI service broke off."
    return kind(message, retryable=before_response, detail=detail)


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str


async def iter_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Server-sent events from a byte stream: LF or CRLF, comments, fields split anywhere.

    Lines are split on bytes before decoding, so a multi-byte character cut between two network
    packets is reassembled.
    """
    buffer = b""
    event = ""
    data: list[bytes] = []
    async for chunk in chunks:
        buffer += chunk
        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                break
            line = buffer[:newline]
            buffer = buffer[newline + 1 :]
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    yield SSEEvent(event or "message", b"\n".join(data).decode("utf-8", "replace"))
                event, data = "", []
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
    if data:
        yield SSEEvent(event or "message", b"\n".join(data).decode("utf-8", "replace"))


def loads(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
