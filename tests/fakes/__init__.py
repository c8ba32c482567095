"""Test doubles on real loopback sockets: a fake LLM upstream and outbound proxies.

See :mod:`tests.fakes.upstream`, :mod:`tests.fakes.proxies` and :mod:`tests.fakes.sse`.
Names are re-exported lazily, so using one fake does not load the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes._server import ssl_client_context
    from tests.fakes.proxies import Blackhole, BufferingProxy, HttpConnectProxy, Socks5Proxy
    from tests.fakes.sse import SseEvent, SseParser, parse_sse
    from tests.fakes.upstream import (
        BUSY_DETAIL,
        SCENARIOS,
        FakeUpstream,
        RecordedRequest,
        Scenario,
        count_prompt_tokens,
        split_for_wire,
        split_tokens,
    )

_EXPORTS = {
    "ssl_client_context": "tests.fakes._server",
    "Blackhole": "tests.fakes.proxies",
    "BufferingProxy": "tests.fakes.proxies",
    "HttpConnectProxy": "tests.fakes.proxies",
    "Socks5Proxy": "tests.fakes.proxies",
    "SseEvent": "tests.fakes.sse",
    "SseParser": "tests.fakes.sse",
    "parse_sse": "tests.fakes.sse",
    "BUSY_DETAIL": "tests.fakes.upstream",
    "SCENARIOS": "tests.fakes.upstream",
    "FakeUpstream": "tests.fakes.upstream",
    "RecordedRequest": "tests.fakes.upstream",
    "Scenario": "tests.fakes.upstream",
    "count_prompt_tokens": "tests.fakes.upstream",
    "split_for_wire": "tests.fakes.upstream",
    "split_tokens": "tests.fakes.upstream",
}

__all__ = [
    "BUSY_DETAIL",
    "SCENARIOS",
    "Blackhole",
    "BufferingProxy",
    "FakeUpstream",
    "HttpConnectProxy",
    "RecordedRequest",
    "Scenario",
    "Socks5Proxy",
    "SseEvent",
    "SseParser",
    "count_prompt_tokens",
    "parse_sse",
    "split_for_wire",
    "split_tokens",
    "ssl_client_context",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
