"""The adapters' side of the HTTP client (chatgate.providers.wire): one client per credential,
and the two requests an adapter makes with it — a streamed POST and a JSON GET.

There is no read timeout per chunk: first-token and idle timeouts are enforced by the generation
service, so a slow but healthy answer is never cut off.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import orjson

from chatgate.providers.errors import error_from_response
from chatgate.providers.wire import UpstreamClient

PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")


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
    response = await client.open("POST", url, json=json, headers=headers)
    del json  # the request was sent: the conversation need not be held while the answer streams
    try:
        html = refuse_html and "text/html" in response.headers.get("content-type", "")
        if response.status_code != 200 or html:
            raise error_from_response(
                provider, response.status_code, response.headers, await response.aread()
            )
        await response.pump(reader.feed)
    finally:
        response.close()
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
