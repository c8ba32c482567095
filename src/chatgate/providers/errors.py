"""Upstream error responses turned into clear errors: a message for the user (what to do), details
for the log (what the upstream said, its secrets masked)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from chatgate.errors import UpstreamAuth, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from chatgate.security import redaction


def redact(text: str) -> str:
    """Upstream text with every configured secret (by value) and every key-shaped run masked."""
    return redaction.redact(text)


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


def _quota_exhausted(body: bytes) -> bool:
    """OpenAI's 429 `insufficient_quota` (billing) is a refusal, not a rate limit."""
    head = body[:2000]
    return b"insufficient_quota" in head or b"billing_hard_limit" in head


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:200].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype html", b"<html"))


def error_from_response(
    provider: str, status: int, headers: Mapping[str, str], body: bytes
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
    if status == 429 and not _quota_exhausted(body):
        error = UpstreamRateLimited(retryable=True, retry_after=retry_after, detail=detail)
    elif status in (401, 402, 403, 429):  # refused, unpaid, or a quota that a wait won't refill
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
