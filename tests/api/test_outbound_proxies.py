"""Upstream traffic goes through the configured outbound proxy: HTTP or SOCKS5, with credentials,
per credential or for every upstream; a broken proxy is a clear error that names no secret."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import REPLY, providers_for
from tests.conftest import Harness
from tests.fakes.proxies import HttpConnectProxy, Socks5Proxy
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of


async def _ask(harness: Harness) -> list[Any]:
    alice = await harness.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    return events_of(
        await alice.post(
            f"/api/conversations/{cid}/messages", json={"content": "through the proxy"}
        )
    )


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "http"])
async def test_upstream_requests_pass_through_the_global_proxy(
    make_harness: Callable[..., Any], fake: FakeUpstream, scheme: str
) -> None:
    proxy_cls = HttpConnectProxy if scheme == "http" else Socks5Proxy
    with proxy_cls(username="proxyuser", password="PROXY-CANARY-pw") as proxy:
        url = proxy.url if scheme != "socks5h" else proxy.url.replace("socks5://", "socks5h://")
        harness: Harness = await make_harness(providers=providers_for(fake), proxy=url)
        events = await _ask(harness)
        assert answer_text(events) == REPLY
        assert ("127.0.0.1", fake.port) in proxy.connections
        assert proxy.auth_failures == 0
        assert "PROXY-CANARY" not in str(events)


async def test_a_credential_can_have_its_own_proxy(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    with Socks5Proxy() as own, HttpConnectProxy() as shared:
        providers = providers_for(fake, proxy=own.url)
        harness: Harness = await make_harness(providers=providers, proxy=shared.url)
        events = await _ask(harness)
        assert answer_text(events) == REPLY
        assert own.connections and not shared.connections


async def test_wrong_proxy_password_is_a_clear_error_without_secrets(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    with HttpConnectProxy(username="proxyuser", password="right") as proxy:
        bad = proxy.url.replace(":right@", ":PROXY-CANARY-wrong@")
        harness: Harness = await make_harness(
            providers=providers_for(fake), proxy=bad, upstream_retries=0
        )
        events = await _ask(harness)
        error = data(next(e for e in events if e.event == "error"))
        assert "proxy" in error["message"].lower()
        assert "PROXY-CANARY" not in str(events)
        assert fake.calls() == 0


async def test_socks_proxy_that_refuses_is_an_error_not_a_direct_connection(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    with Socks5Proxy(username="u", password="right") as proxy:
        bad = proxy.url.replace(":right@", ":wrong@")
        harness: Harness = await make_harness(
            providers=providers_for(fake), proxy=bad, upstream_retries=0
        )
        with warnings.catch_warnings():
            # httpcore 1.0.9 leaves the socket of a failed SOCKS handshake for the GC to close.
            warnings.simplefilter("ignore", ResourceWarning)
            events = await _ask(harness)
            gc.collect()
        assert data(events[-1]) == {"status": "error"}
        assert fake.calls() == 0
