"""The loopback proxies: traffic really goes through them, credentials are really checked."""

from __future__ import annotations

import gc
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes import (
    BufferingProxy,
    FakeUpstream,
    HttpConnectProxy,
    Socks5Proxy,
    parse_sse,
)

REPLY = "Proxied 你好 🌍 reply"
_SSL = ssl.create_default_context()  # made once: building one per client is slow
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def chat_body() -> dict[str, Any]:
    return {
        "model": "fake-model",
        "stream": True,
        "messages": [{"role": "user", "content": "hello"}],
    }


def text_of(raw: bytes) -> str:
    text = ""
    for event in parse_sse(raw):
        if event.data != "[DONE]":
            for choice in orjson.loads(event.data)["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    yield
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("fake-")]
    assert not leaked, f"fake server threads left running: {leaked}"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(reply=REPLY) as server:
        yield server


# httpcore 1.0.9 does not close its socket when a SOCKS5 handshake fails (the `stream` in
# httpcore/_sync/socks_proxy.py is dropped on error), which raises a ResourceWarning when that
# socket is collected. Collect it inside the test, under this filter, instead of in a later test.
socks_failure_leaks_a_socket = pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")


def expect_socks_failure(client: httpx.Client, url: str) -> None:
    with pytest.raises(httpx.ProxyError):
        client.get(url)
    gc.collect()


def client_via(proxy_url: str, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("verify", _SSL)
    kwargs.setdefault("timeout", 5)
    return httpx.Client(proxy=proxy_url, **kwargs)


# -- HTTP proxy -------------------------------------------------------------------------------
def test_http_proxy_forwards_absolute_uri_requests(fake: FakeUpstream) -> None:
    with HttpConnectProxy() as proxy, client_via(proxy.url) as client:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"
        response = client.post(fake.base_url + "/v1/chat/completions?trace=1", json=chat_body())
        assert response.status_code == 200
        assert text_of(response.content) == REPLY
        assert proxy.connections == [("127.0.0.1", fake.port)]
        assert proxy.requests == [("POST", fake.base_url + "/v1/chat/completions?trace=1")]
    record = fake.requests[0]
    assert (record.path, record.query) == ("/v1/chat/completions", "trace=1")
    assert record.json == chat_body()
    assert "proxy-authorization" not in record.headers


def test_http_proxy_streams_incrementally(fake: FakeUpstream) -> None:
    fake.reply = "a b c d e"
    fake.set_scenario("slow", token_delay=0.05)
    with HttpConnectProxy() as proxy, client_via(proxy.url) as client:
        started = time.monotonic()
        with client.stream("POST", fake.base_url + "/v1/chat/completions", json=chat_body()) as r:
            arrivals = [(time.monotonic() - started, c) for c in r.iter_raw()]
    token_times = [t for t, chunk in arrivals if b'"content"' in chunk]
    assert len(token_times) == 5
    assert token_times[-1] - token_times[0] >= 0.15  # not buffered into one burst
    assert text_of(b"".join(c for _, c in arrivals)) == "a b c d e"


def test_http_proxy_basic_auth(fake: FakeUpstream) -> None:
    with HttpConnectProxy(username="user", password="p@ss:wörd") as proxy:
        assert proxy.url == f"http://user:p%40ss%3Aw%C3%B6rd@127.0.0.1:{proxy.port}"
        with client_via(proxy.url) as client:
            assert client.get(fake.base_url + "/v1/models").status_code == 200
        assert proxy.auth_failures == 0
        wrong = f"http://user:nope@127.0.0.1:{proxy.port}"
        with client_via(wrong) as client:
            response = client.get(fake.base_url + "/v1/models")
            assert response.status_code == 407
            assert response.headers["proxy-authenticate"].startswith("Basic")
        with client_via(f"http://127.0.0.1:{proxy.port}") as client:
            assert client.get(fake.base_url + "/v1/models").status_code == 407
        assert proxy.auth_failures == 2
        assert proxy.connections == [("127.0.0.1", fake.port)]  # refused ones went nowhere
    assert fake.calls() == 1


def test_http_connect_tunnel_raw(fake: FakeUpstream) -> None:
    with (
        HttpConnectProxy() as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
    ):
        sock.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % ((fake.netloc.encode(),) * 2))
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(1024)
        assert reply.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK") and b'"fake-model-2"' in data
        assert proxy.requests == [("CONNECT", fake.netloc)]
        assert proxy.connections == [("127.0.0.1", fake.port)]
    assert fake.requests[0].headers["host"] == "upstream"  # the request went through untouched


@needs_openssl
def test_https_through_connect_with_auth() -> None:
    with (
        FakeUpstream(reply=REPLY, tls=True) as fake,
        HttpConnectProxy(username="u", password="p") as proxy,
        client_via(proxy.url, verify=fake.ssl_client_context) as client,
    ):
        response = client.post(fake.base_url + "/v1/chat/completions", json=chat_body())
        assert response.status_code == 200 and text_of(response.content) == REPLY
        assert proxy.requests == [("CONNECT", fake.netloc)]
        assert proxy.connections == [("127.0.0.1", fake.port)]
        with (
            client_via(f"http://u:bad@{proxy.netloc}", verify=fake.ssl_client_context) as bad,
            pytest.raises(httpx.ProxyError),
        ):
            bad.get(fake.base_url + "/v1/models")
        assert proxy.auth_failures == 1
        assert fake.calls() == 1


def test_http_proxy_target_down_is_502() -> None:
    port = free_port()
    with HttpConnectProxy() as proxy, client_via(proxy.url) as client:
        response = client.get(f"http://127.0.0.1:{port}/v1/models")
        assert response.status_code == 502
        assert proxy.connections == [("127.0.0.1", port)]


# -- SOCKS5 -----------------------------------------------------------------------------------
def test_socks5_ipv4(fake: FakeUpstream) -> None:
    with Socks5Proxy() as proxy, client_via(proxy.url) as client:
        assert proxy.url == f"socks5://127.0.0.1:{proxy.port}"
        response = client.post(fake.base_url + "/v1/chat/completions", json=chat_body())
        assert response.status_code == 200 and text_of(response.content) == REPLY
        assert proxy.connections == [("127.0.0.1", fake.port)]
        assert proxy.address_types == ["ipv4"]
    assert fake.calls() == 1


@socks_failure_leaks_a_socket
def test_socks5_username_password(fake: FakeUpstream) -> None:
    with Socks5Proxy(username="alice", password="s3cret") as proxy:
        assert proxy.url == f"socks5://alice:s3cret@127.0.0.1:{proxy.port}"
        with client_via(proxy.url) as client:
            assert client.get(fake.base_url + "/v1/models").status_code == 200
        with client_via(f"socks5://alice:wrong@{proxy.netloc}") as client:
            expect_socks_failure(client, fake.base_url + "/v1/models")
        with client_via(f"socks5://{proxy.netloc}") as client:  # no credentials offered
            expect_socks_failure(client, fake.base_url + "/v1/models")
        assert proxy.auth_failures == 2
        assert proxy.connections == [("127.0.0.1", fake.port)]
    assert fake.calls() == 1


def test_socks5h_sends_the_host_name(fake: FakeUpstream) -> None:
    with Socks5Proxy(username="bob", password="pw") as proxy:
        assert proxy.url_remote_dns == f"socks5h://bob:pw@127.0.0.1:{proxy.port}"
        with client_via(proxy.url_remote_dns) as client:
            response = client.get(f"http://localhost:{fake.port}/v1/models")
        assert response.status_code == 200
        assert proxy.connections == [("localhost", fake.port)]
        assert proxy.address_types == ["domain"]


def test_socks5_ipv6() -> None:
    with (
        FakeUpstream(reply=REPLY, host="::1") as fake,
        Socks5Proxy() as proxy,
        client_via(proxy.url) as client,
    ):
        assert fake.base_url == f"http://[::1]:{fake.port}"
        response = client.post(fake.base_url + "/v1/chat/completions", json=chat_body())
        assert text_of(response.content) == REPLY
        assert proxy.connections == [("::1", fake.port)]
        assert proxy.address_types == ["ipv6"]


@socks_failure_leaks_a_socket
def test_socks5_target_down() -> None:
    port = free_port()
    with Socks5Proxy() as proxy, client_via(proxy.url) as client:
        expect_socks_failure(client, f"http://127.0.0.1:{port}/")
        assert proxy.connections == [("127.0.0.1", port)]


def test_client_disconnect_reaches_the_upstream_through_socks() -> None:
    with (
        FakeUpstream(reply=" ".join(["tok"] * 50), token_delay=0.02) as fake,
        Socks5Proxy() as proxy,
        client_via(proxy.url) as client,
    ):
        with client.stream("POST", fake.base_url + "/v1/chat/completions", json=chat_body()) as r:
            for chunk in r.iter_raw():
                if b'"content"' in chunk:
                    break
        fake.wait_for(lambda f: f.requests[0].closed_by_client_at is not None)
        assert fake.requests[0].tokens_sent < 50


def test_upstream_reset_surfaces_through_the_proxy() -> None:
    with (
        FakeUpstream(reply=REPLY, scenario="reset_mid_stream") as fake,
        HttpConnectProxy() as proxy,
        client_via(proxy.url) as client,
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
    ):
        client.post(fake.base_url + "/v1/chat/completions", json=chat_body())


# -- buffering reverse proxy ------------------------------------------------------------------
def test_buffering_proxy_holds_the_whole_stream_back(fake: FakeUpstream) -> None:
    fake.reply = "a b c d e"
    fake.set_scenario("slow", token_delay=0.05)
    with BufferingProxy(fake.base_url) as proxy, httpx.Client(timeout=5, verify=_SSL) as client:
        started = time.monotonic()
        with client.stream("POST", proxy.url + "/v1/chat/completions", json=chat_body()) as r:
            headers_at = time.monotonic() - started
            chunks = list(r.iter_raw())
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert headers_at >= 0.24  # nothing at all before the upstream finished
        assert text_of(b"".join(chunks)) == "a b c d e"
        assert proxy.requests == [("POST", "/v1/chat/completions")]
        assert len(proxy.flushes) == 1
    assert fake.requests[0].headers["host"] == fake.netloc


def test_buffering_proxy_with_a_buffer_size(fake: FakeUpstream) -> None:
    fake.reply = " ".join(["word"] * 30)
    fake.token_delay = 0.003
    with (
        BufferingProxy(fake.base_url, buffer_size=1024) as proxy,
        httpx.Client(timeout=5, verify=_SSL) as client,
    ):
        response = client.post(proxy.url + "/v1/chat/completions", json=chat_body())
        assert text_of(response.content) == fake.reply
        assert len(proxy.flushes) > 2
        assert all(size >= 1024 for size in proxy.flushes[:-1])


def test_buffering_proxy_lets_the_upstream_know_when_the_client_leaves(fake: FakeUpstream) -> None:
    fake.set_scenario("hang")
    with (
        BufferingProxy(fake.base_url) as proxy,
        httpx.Client(timeout=httpx.Timeout(5, read=0.2), verify=_SSL) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            client.post(proxy.url + "/v1/chat/completions", json=chat_body())
        fake.wait_for(lambda f: f.requests[0].closed_by_client_at is not None)  # proxy still up
