"""The HTTP side shared by the adapters: one client per credential (chatgate.providers.wire),
upstream error bodies turned into clear errors, and a small SSE reader.

There is no read timeout per chunk: first-token and idle timeouts are enforced by the generation
service, so a slow but healthy answer is never cut off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from chatgate.errors import UpstreamAuth, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from chatgate.providers.wire import UpstreamClient
from chatgate.security import redaction

PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")


def redact(text: str) -> str:
    """Upstream text with every configured secret (by value) and every key-shaped run masked."""
    return redaction.redact(text)


def build_client(
    *, proxy: str | None, connect_timeout: float, ca_bundle: str | os.PathLike[str] | None = None
) -> UpstreamClient:
    """One credential's client; `ca_bundle` (PEM) is trusted besides the public roots."""
    if proxy is not None and not proxy.startswith(PROXY_SCHEMES):
        raise ValueError(f"proxy must start with one of {', '.join(PROXY_SCHEMES)}")
    return UpstreamClient(
        proxy=proxy,
        connect_timeout=connect_timeout,
        ca_bundle=os.fspath(ca_bundle) if ca_bundle is not None else None,
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


class BodyReader(Protocol):
    """An adapter's socket-free reader of a streamed body."""

    def feed(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The body ended; raise if the answer did not."""
        ...


async def post_and_read(
    provider: str,
    client: UpstreamClient,
    url: str,
    *,
    json: Any,
    headers: dict[str, str],
    reader: BodyReader,
    refuse_html: bool = False,
) -> None:
    """POST a streaming request and hand its body to `reader` from the network callback as it
    arrives. An error status — or, with `refuse_html`, an HTML page where a stream was expected
    (a proxy's login or challenge page) — becomes an `UpstreamError`."""
    async with client.stream("POST", url, json=json, headers=headers) as response:
        html = refuse_html and "text/html" in response.headers.get("content-type", "")
        if response.status_code != 200 or html:
            raise error_from_response(
                provider, response.status_code, response.headers, await response.aread()
            )
        await response.pump(reader.feed)
    reader.close()


async def get_json(
    provider: str, client: UpstreamClient, url: str, *, headers: dict[str, str]
) -> Any:
    """GET a JSON document (a model list); an error status becomes an `UpstreamError`."""
    async with client.stream("GET", url, headers=headers) as response:
        body = await response.aread()
    if response.status_code != 200:
        raise error_from_response(provider, response.status_code, response.headers, body)
    return loads(body.decode("utf-8", "replace"))


def loads(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
