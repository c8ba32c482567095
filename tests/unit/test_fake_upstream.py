"""The fake upstream itself: every protocol and scenario, checked with plain httpx."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes import (
    BUSY_DETAIL,
    SCENARIOS,
    Blackhole,
    FakeUpstream,
    Scenario,
    SseEvent,
    SseParser,
    count_prompt_tokens,
    parse_sse,
    split_for_wire,
    split_tokens,
)

_ROOT = Path(__file__).resolve().parents[2]
_SSL = ssl.create_default_context()  # made once: building one per client is slow
REPLY = "Hello 你好 🌍 world! Ça va? 👩‍💻 fin."
PROTOCOLS = ["openai", "anthropic", "chatgpt_web"]


# -- helpers ------------------------------------------------------------------------------------
def body_for(protocol: str, text: str = "Say hello", **extra: Any) -> dict[str, Any]:
    if protocol == "openai":
        return {
            "model": "fake-model",
            "stream": True,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": text},
            ],
            **extra,
        }
    if protocol == "anthropic":
        return {
            "model": "claude-fake",
            "max_tokens": 1024,
            "stream": True,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": text}],
            **extra,
        }
    return {
        "action": "next",
        "model": "text-davinci-002-render-sha",
        "parent_message_id": "00000000-0000-4000-8000-000000000000",
        "messages": [
            {
                "id": "11111111-1111-4111-8111-111111111111",
                "role": "user",
                "content": {"content_type": "text", "parts": [text]},
            }
        ],
        **extra,
    }


PATHS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "chatgpt_web": "/backend-api/conversation",
}
HEADERS = {
    "openai": {"Authorization": "Bearer sk-test"},
    "anthropic": {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"},
    "chatgpt_web": {"Authorization": "Bearer access-token-1"},
}


def post_stream(
    client: httpx.Client,
    fake: FakeUpstream,
    protocol: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, list[bytes]]:
    with client.stream(
        "POST",
        fake.base_url + PATHS[protocol],
        json=body if body is not None else body_for(protocol),
        headers=headers if headers is not None else HEADERS[protocol],
    ) as response:
        chunks = list(response.iter_raw())
    return response, chunks


def data_payloads(events: list[SseEvent]) -> tuple[list[Any], int, int]:
    """(parsed JSON payloads, [DONE] count, undecodable data count)."""
    payloads: list[Any] = []
    done = bad = 0
    for event in events:
        if event.data == "[DONE]":
            done += 1
            continue
        try:
            payloads.append(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            bad += 1
    return payloads, done, bad


def reply_text(protocol: str, events: list[SseEvent]) -> str:
    """The text a correct client reconstructs from the protocol's events."""
    payloads, _, _ = data_payloads(events)
    if protocol == "openai":
        return "".join(
            choice["delta"].get("content") or ""
            for p in payloads
            if "choices" in p
            for choice in p["choices"]
        )
    if protocol == "anthropic":
        return "".join(
            p["delta"]["text"] for p in payloads if p.get("type") == "content_block_delta"
        )
    text = ""
    for p in payloads:
        if p.get("message"):
            part = p["message"]["content"]["parts"][0]
            assert part.startswith(text), "ChatGPT web parts must be cumulative"
            text = part
    return text


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    yield
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("fake-")]
    assert not leaked, f"fake server threads left running: {leaked}"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(reply=REPLY) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, verify=_SSL) as c:
        yield c


# -- tokens and usage ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [REPLY, "", "   ", "a", "trailing  \n", "\n\nlead", "中文没有空格的一整段句子", "👍🏽🇨🇳👨‍👩‍👧"],
)
def test_split_tokens_concatenate_exactly(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    for token in tokens:
        assert len(token.strip()) <= 4
        token.encode()  # never half a surrogate or code point


def test_split_tokens_keep_multibyte_characters_whole() -> None:
    assert split_tokens("Hello 你好 🌍 world") == ["Hell", "o", " 你好", " 🌍", " worl", "d"]


def test_prompt_token_rule() -> None:
    openai = {"messages": [{"role": "system", "content": "12345678"}, {"content": "1234"}]}
    assert count_prompt_tokens("openai", openai) == 12 // 4 + 1
    parts = {"messages": [{"content": [{"type": "text", "text": "abcdefgh"}, {"type": "image"}]}]}
    assert count_prompt_tokens("openai", parts) == 3
    anthropic = {"system": "你好你好", "messages": [{"content": [{"type": "text", "text": "a"}]}]}
    assert count_prompt_tokens("anthropic", anthropic) == 5 // 4 + 1
    web = {"messages": [{"content": {"content_type": "text", "parts": ["abcdefghijkl"]}}]}
    assert count_prompt_tokens("chatgpt_web", web) == 4


def test_scenario_validation() -> None:
    assert set(SCENARIOS) >= {"normal", "slow", "reset_mid_stream", "split_bytes", "hang"}
    assert Scenario("slow").params == {"token_delay": 0.2}
    assert Scenario("reset_mid_stream", after_tokens=1).params["after_tokens"] == 1
    with pytest.raises(ValueError, match="unknown scenario"):
        Scenario("nope")
    with pytest.raises(ValueError, match="no parameter"):
        Scenario("slow", pause=1)
    with FakeUpstream() as server, pytest.raises(ValueError):
        server.queue("normal", "bogus")


# -- OpenAI ----------------------------------------------------------------------------------
def test_openai_stream_is_byte_exact(fake: FakeUpstream, client: httpx.Client) -> None:
    body = body_for("openai", stream_options={"include_usage": True})
    response, chunks = post_stream(client, fake, "openai", body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    raw = b"".join(chunks)
    assert "你好".encode() in raw  # UTF-8 on the wire, not \u escapes
    events = parse_sse(raw)
    payloads, done, bad = data_payloads(events)
    assert events[-1].data == "[DONE]" and done == 1 and bad == 0
    assert reply_text("openai", events) == REPLY
    tokens = split_tokens(REPLY)
    content_chunks = [p for p in payloads if p["choices"] and "content" in p["choices"][0]["delta"]]
    assert [p["choices"][0]["delta"]["content"] for p in content_chunks] == tokens
    assert content_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(
        p["object"] == "chat.completion.chunk" and p["model"] == "fake-model" for p in payloads
    )
    assert len({p["id"] for p in payloads}) == 1
    finish = payloads[-2]
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    usage_chunk = payloads[-1]
    assert usage_chunk["choices"] == []
    prompt = (len("Be brief.") + len("Say hello")) // 4 + 1
    assert usage_chunk["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": len(tokens),
        "total_tokens": prompt + len(tokens),
    }
    (record,) = fake.requests
    assert (record.method, record.path, record.protocol, record.scenario) == (
        "POST",
        "/v1/chat/completions",
        "openai",
        "normal",
    )
    assert record.headers["authorization"] == "Bearer sk-test"
    assert record.json == body
    assert record.stream and record.status == 200
    assert record.tokens_sent == len(tokens) and record.text_sent == REPLY
    assert record.prompt_tokens == prompt
    assert record.closed_by_client_at is None
    assert record.finished_at is not None and record.finished_at >= record.received_at
    assert fake.calls() == 1 and fake.calls("/v1/chat/completions") == 1 and fake.calls("/x") == 0


def test_openai_stream_without_include_usage_has_no_usage(
    fake: FakeUpstream, client: httpx.Client
) -> None:
    _, chunks = post_stream(client, fake, "openai")
    payloads, _, _ = data_payloads(parse_sse(b"".join(chunks)))
    assert all("usage" not in p for p in payloads)
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"


def test_each_token_is_written_separately(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("normal", token_delay=0.01)
    _, chunks = post_stream(client, fake, "openai")
    token_chunks = [c for c in chunks if b'"content"' in c]
    assert len(token_chunks) == len(split_tokens(REPLY))  # one token per read, none merged


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_openai_max_tokens_cuts_with_finish_length(
    fake: FakeUpstream, client: httpx.Client, field: str
) -> None:
    body = body_for("openai", stream_options={"include_usage": True})
    body[field] = 3
    _, chunks = post_stream(client, fake, "openai", body)
    events = parse_sse(b"".join(chunks))
    payloads, _, _ = data_payloads(events)
    assert reply_text("openai", events) == "".join(split_tokens(REPLY)[:3])
    assert payloads[-2]["choices"][0]["finish_reason"] == "length"
    assert payloads[-1]["usage"]["completion_tokens"] == 3
    assert fake.requests[0].tokens_sent == 3


def test_openai_non_stream_always_has_usage(fake: FakeUpstream, client: httpx.Client) -> None:
    body = body_for("openai", stream=False)
    response = client.post(fake.base_url + "/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["object"] == "chat.completion"
    assert payload["choices"][0]["message"] == {
        "role": "assistant",
        "content": REPLY,
        "refusal": None,
    }
    assert payload["choices"][0]["finish_reason"] == "stop"
    completion = len(split_tokens(REPLY))
    assert payload["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": completion,
        "total_tokens": 5 + completion,
    }
    assert not fake.requests[0].stream


def test_reply_callable_and_token_list(client: httpx.Client) -> None:
    def echo(body: Any) -> str:
        return "echo: " + str(body["messages"][-1]["content"])

    with FakeUpstream(reply=echo) as server:
        _, chunks = post_stream(client, server, "openai", body_for("openai", "ping 你好"))
        assert reply_text("openai", parse_sse(b"".join(chunks))) == "echo: ping 你好"
        server.reply = ["exact", " tokens", " here"]
        _, chunks = post_stream(client, server, "openai")
        payloads, _, _ = data_payloads(parse_sse(b"".join(chunks)))
        deltas = [c["delta"].get("content") for p in payloads for c in p["choices"]]
        assert deltas == ["exact", " tokens", " here", None]


def test_empty_reply_still_announces_role(client: httpx.Client) -> None:
    with FakeUpstream(reply="") as server:
        _, chunks = post_stream(client, server, "openai")
        payloads, done, _ = data_payloads(parse_sse(b"".join(chunks)))
        assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert payloads[-1]["choices"][0]["finish_reason"] == "stop" and done == 1


def test_models_endpoint_in_both_shapes(client: httpx.Client) -> None:
    with FakeUpstream(models=["m-1", "m-2", "m-3"]) as server:
        openai = client.get(server.base_url + "/v1/models", headers=HEADERS["openai"]).json()
        assert openai["object"] == "list"
        assert [(m["id"], m["object"]) for m in openai["data"]] == [
            ("m-1", "model"),
            ("m-2", "model"),
            ("m-3", "model"),
        ]
        anthropic = client.get(server.base_url + "/v1/models", headers=HEADERS["anthropic"])
        assert [m["id"] for m in anthropic.json()["data"]] == ["m-1", "m-2", "m-3"]
        assert anthropic.json()["data"][0]["type"] == "model"
        assert server.calls("/v1/models") == 2
    with FakeUpstream() as server:
        ids = [m["id"] for m in client.get(server.base_url + "/v1/models").json()["data"]]
        assert ids == ["fake-model", "fake-model-2"]


def test_models_scenario_is_separate(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.queue("server_error")
    assert client.get(fake.base_url + "/v1/models").status_code == 200  # queue untouched
    fake.set_models_scenario("server_error", status=503)
    assert client.get(fake.base_url + "/v1/models").status_code == 503
    response, _ = post_stream(client, fake, "openai")
    assert response.status_code == 500  # the queued scenario went to the generation


# -- Anthropic -------------------------------------------------------------------------------
def test_anthropic_stream_event_sequence(fake: FakeUpstream, client: httpx.Client) -> None:
    response, chunks = post_stream(client, fake, "anthropic")
    assert response.status_code == 200
    events = parse_sse(b"".join(chunks))
    tokens = split_tokens(REPLY)
    names = [e.event for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * len(tokens),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [orjson.loads(e.data) for e in events]
    assert all(p["type"] == e.event for p, e in zip(payloads, events, strict=True))
    start = payloads[0]["message"]
    assert (start["role"], start["model"], start["content"]) == ("assistant", "claude-fake", [])
    prompt = (len("Be brief.") + len("Say hello")) // 4 + 1
    assert start["usage"] == {"input_tokens": prompt, "output_tokens": 1}
    assert payloads[1]["content_block"] == {"type": "text", "text": ""}
    assert [p["delta"] for p in payloads[3:-3]] == [
        {"type": "text_delta", "text": t} for t in tokens
    ]
    assert reply_text("anthropic", events) == REPLY
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"
    assert payloads[-2]["usage"] == {"output_tokens": len(tokens)}
    record = fake.requests[0]
    assert record.headers["x-api-key"] == "sk-ant-test"
    assert record.headers["anthropic-version"] == "2023-06-01"
    assert record.protocol == "anthropic" and record.tokens_sent == len(tokens)


def test_anthropic_max_tokens_and_non_stream(fake: FakeUpstream, client: httpx.Client) -> None:
    body = body_for("anthropic", max_tokens=2)
    _, chunks = post_stream(client, fake, "anthropic", body)
    events = parse_sse(b"".join(chunks))
    assert reply_text("anthropic", events) == "".join(split_tokens(REPLY)[:2])
    delta = orjson.loads(events[-2].data)
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 2

    body = body_for("anthropic", stream=False)
    payload = client.post(fake.base_url + "/v1/messages", json=body).json()
    assert payload["type"] == "message" and payload["stop_reason"] == "end_turn"
    assert payload["content"] == [{"type": "text", "text": REPLY}]
    assert payload["usage"] == {"input_tokens": 5, "output_tokens": len(split_tokens(REPLY))}


def test_anthropic_requires_max_tokens(fake: FakeUpstream, client: httpx.Client) -> None:
    body = body_for("anthropic")
    del body["max_tokens"]
    response = client.post(fake.base_url + "/v1/messages", json=body, headers=HEADERS["anthropic"])
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# -- keys and error scenarios ----------------------------------------------------------------
def _openai_error(j: Any) -> bool:
    return bool(j["error"]["message"]) and "type" in j["error"]


def _anthropic_error(j: Any) -> bool:
    return j["type"] == "error" and bool(j["error"]["type"]) and bool(j["error"]["message"])


def _chatgpt_error(j: Any) -> bool:
    return bool(j["detail"])


ERROR_SHAPES: dict[str, Callable[[Any], bool]] = {
    "openai": _openai_error,
    "anthropic": _anthropic_error,
    "chatgpt_web": _chatgpt_error,
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_invalid_key_gets_401_in_provider_shape(protocol: str, client: httpx.Client) -> None:
    with FakeUpstream(valid_keys={"sk-test", "sk-ant-test", "access-token-1"}) as server:
        server.queue("server_error")
        bad = {**HEADERS[protocol]}
        bad["x-api-key" if protocol == "anthropic" else "Authorization"] = (
            "wrong" if protocol == "anthropic" else "Bearer wrong"
        )
        response, chunks = post_stream(client, server, protocol, headers=bad)
        assert response.status_code == 401
        payload = orjson.loads(b"".join(chunks))
        assert ERROR_SHAPES[protocol](payload)
        if protocol == "anthropic":
            assert payload["error"]["type"] == "authentication_error"
        assert server.requests[0].scenario == "invalid_key"
        assert len(server.queued) == 1  # a rejected request consumes no scenario
        assert post_stream(client, server, protocol)[0].status_code == 500
        assert post_stream(client, server, protocol)[0].status_code == 200


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rate_limited_carries_retry_after(
    protocol: str, fake: FakeUpstream, client: httpx.Client
) -> None:
    fake.queue(Scenario("rate_limited", retry_after=2))
    response, chunks = post_stream(client, fake, protocol)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    payload = orjson.loads(b"".join(chunks))
    assert ERROR_SHAPES[protocol](payload)
    if protocol == "anthropic":
        assert payload["error"]["type"] == "rate_limit_error"
    if protocol == "openai":
        assert payload["error"]["code"] == "rate_limit_exceeded"
    assert fake.requests[0].scenario == "rate_limited" and fake.requests[0].status == 429


@pytest.mark.parametrize(
    ("protocol", "status"),
    [("openai", 500), ("openai", 503), ("anthropic", 529), ("chatgpt_web", 502)],
)
def test_server_error(protocol: str, status: int, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("server_error", status=status)
    response, chunks = post_stream(client, fake, protocol)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    payload = orjson.loads(b"".join(chunks))
    assert ERROR_SHAPES[protocol](payload)
    if protocol == "anthropic":
        assert payload["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_auth_error_scenario(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("auth_error")
    response, chunks = post_stream(client, fake, protocol)
    assert response.status_code == 401
    assert ERROR_SHAPES[protocol](orjson.loads(b"".join(chunks)))


@pytest.mark.parametrize("status", [502, 200])
def test_html_error_page(status: int, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("html_error", status=status)
    response, chunks = post_stream(client, fake, "openai")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    page = b"".join(chunks).decode()
    assert page.startswith("<!DOCTYPE html>") and "Bad gateway" in page
    assert page.rstrip().endswith("</html>")


def test_cloudflare_challenge_on_chatgpt_web(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("cloudflare_challenge")
    response, chunks = post_stream(client, fake, "chatgpt_web")
    assert response.status_code == 403
    assert response.headers["cf-mitigated"] == "challenge"
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Just a moment...</title>" in b"".join(chunks).decode()


def test_queue_is_consumed_in_order_then_default(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("auth_error")
    fake.queue("server_error", "normal", {"name": "rate_limited", "retry_after": 7})
    statuses = [post_stream(client, fake, "openai")[0].status_code for _ in range(5)]
    assert statuses == [500, 200, 429, 401, 401]
    assert [r.scenario for r in fake.requests] == [
        "server_error",
        "normal",
        "rate_limited",
        "auth_error",
        "auth_error",
    ]
    assert fake.queued == []
    fake.reset()
    assert fake.requests == [] and fake.scenario == Scenario("normal")
    assert post_stream(client, fake, "openai")[0].status_code == 200


# -- timing scenarios ------------------------------------------------------------------------
def arrival_times(
    client: httpx.Client, fake: FakeUpstream, protocol: str = "openai"
) -> tuple[float, list[tuple[float, bytes]]]:
    start = time.monotonic()
    with client.stream(
        "POST", fake.base_url + PATHS[protocol], json=body_for(protocol), headers=HEADERS[protocol]
    ) as response:
        headers_at = time.monotonic() - start
        chunks = [(time.monotonic() - start, chunk) for chunk in response.iter_raw()]
    return headers_at, chunks


def test_slow_spaces_tokens(client: httpx.Client) -> None:
    with FakeUpstream(reply="a b c d") as server:
        server.set_scenario("slow", token_delay=0.05)
        _, chunks = arrival_times(client, server)
        token_times = [t for t, c in chunks if b'"content"' in c]
        assert len(token_times) == 4
        assert token_times[0] >= 0.045
        assert all(b - a >= 0.04 for a, b in itertools.pairwise(token_times))


def test_long_pause_mid_stream(client: httpx.Client) -> None:
    with FakeUpstream(reply="a b c d") as server:
        server.set_scenario("long_pause", after_tokens=2, pause=0.3)
        _, chunks = arrival_times(client, server)
        token_times = [t for t, c in chunks if b'"content"' in c]
        gaps = [b - a for a, b in itertools.pairwise(token_times)]
        assert gaps[1] >= 0.28
        assert gaps[0] < 0.2 and gaps[2] < 0.2
        assert reply_text("openai", parse_sse([c for _, c in chunks])) == "a b c d"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stall_before_first_token(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("stall_before_first_token", seconds=0.2)
    headers_at, chunks = arrival_times(client, fake, protocol)
    assert headers_at < 0.15  # headers come at once ...
    assert chunks[0][0] >= 0.19  # ... then nothing for the stall
    assert reply_text(protocol, parse_sse([c for _, c in chunks])) == REPLY


def test_hang_never_answers_and_notices_the_close(fake: FakeUpstream) -> None:
    fake.set_scenario("hang")
    with httpx.Client(timeout=httpx.Timeout(5, read=0.2), verify=_SSL) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.post(fake.base_url + "/v1/chat/completions", json=body_for("openai"))
        assert time.monotonic() - started < 1
    fake.wait_for(lambda f: f.requests[0].closed_by_client_at is not None)
    record = fake.requests[0]
    assert record.status is None and record.tokens_sent == 0 and record.scenario == "hang"


def test_client_disconnect_stops_the_stream(client: httpx.Client) -> None:
    with FakeUpstream(reply=" ".join(["word"] * 40)) as server:
        server.set_scenario("slow", token_delay=0.03)
        with client.stream("POST", server.base_url + PATHS["openai"], json=body_for("openai")) as r:
            received = 0
            for chunk in r.iter_raw():
                received += chunk.count(b'"content"')
                if received >= 2:
                    break
        closed = time.monotonic()
        server.wait_for(lambda f: f.requests[0].closed_by_client_at is not None)
        record = server.requests[0]
        assert record.closed_by_client_at is not None
        assert record.closed_by_client_at - closed < 0.5
        sent = record.tokens_sent
        assert 2 <= sent < 40
        time.sleep(0.1)
        assert server.requests[0].tokens_sent == sent  # nothing more was sent


# -- broken streams --------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_reset_mid_stream_raises_after_the_tokens(
    protocol: str, fake: FakeUpstream, client: httpx.Client
) -> None:
    fake.set_scenario("reset_mid_stream", after_tokens=2)
    received: list[bytes] = []
    with (
        pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)),
        client.stream(
            "POST",
            fake.base_url + PATHS[protocol],
            json=body_for(protocol),
            headers=HEADERS[protocol],
        ) as response,
    ):
        assert response.status_code == 200
        received.extend(response.iter_raw())
    parser = SseParser()
    events = [e for chunk in received for e in parser.feed(chunk)]
    assert reply_text(protocol, events) == "".join(split_tokens(REPLY)[:2])
    record = fake.requests[0]
    assert record.tokens_sent == 2 and record.text_sent == "".join(split_tokens(REPLY)[:2])


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_non_stream_faults(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    url = fake.base_url + PATHS[protocol]
    body = body_for(protocol, stream=False)
    fake.queue("reset_mid_stream", "error_mid_stream", Scenario("slow", token_delay=0.01))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.post(url, json=body, headers=HEADERS[protocol])
    assert client.post(url, json=body, headers=HEADERS[protocol]).status_code == 500
    started = time.monotonic()
    response = client.post(url, json=body, headers=HEADERS[protocol])
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.01 * len(split_tokens(REPLY))
    assert [r.tokens_sent for r in fake.requests] == [0, 0, len(split_tokens(REPLY))]


def test_reset_is_a_tcp_rst(fake: FakeUpstream) -> None:
    fake.set_scenario("reset_mid_stream", after_tokens=1)
    body = orjson.dumps(body_for("openai"))
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", fake.port), timeout=2) as sock:
        sock.sendall(request)
        data = b""
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    assert b"HTTP/1.1 200 OK" in data and b'"content":"Hell"' in data


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_error_mid_stream(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("error_mid_stream", after_tokens=2)
    response, chunks = post_stream(client, fake, protocol)
    assert response.status_code == 200
    events = parse_sse(b"".join(chunks))
    assert reply_text(protocol, events) == "".join(split_tokens(REPLY)[:2])
    last = orjson.loads(events[-1].data)
    if protocol == "openai":
        assert last["error"]["type"] == "server_error"
    elif protocol == "anthropic":
        assert events[-1].event == "error" and last["error"]["type"] == "overloaded_error"
    else:
        assert last["error"] and last["message"] is None
    assert all(e.data != "[DONE]" for e in events)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_crlf(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("malformed_crlf")
    _, chunks = post_stream(client, fake, protocol)
    raw = b"".join(chunks)
    assert raw.count(b"\r\n\r\n") >= len(split_tokens(REPLY))
    assert raw.count(b"\n") == raw.count(b"\r\n")  # no bare LF anywhere
    assert reply_text(protocol, parse_sse(raw)) == REPLY


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_comments(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("malformed_comments")
    _, chunks = post_stream(client, fake, protocol)
    raw = b"".join(chunks)
    assert b": keep-alive\n\n" in raw and b"retry: 3000" in raw and b"\nid: " in raw
    assert b"\n\n\n" in raw  # blank keep-alive lines
    if protocol != "anthropic":
        assert b"event: message\n" in raw
    parser = SseParser()
    events = [*parser.feed(raw), *parser.close()]
    assert parser.comments
    assert reply_text(protocol, events) == REPLY
    _, done, bad = data_payloads(events)
    assert bad == 0 and done == (0 if protocol == "anthropic" else 1)


def test_split_for_wire_cuts_inside_characters_and_data_fields() -> None:
    data = 'data: {"t":"a你🌍b"}\n\ndata: [DONE]\n\n'.encode()
    pieces = split_for_wire(data, (40,))
    assert b"".join(pieces) == data
    assert all(b"data:" not in piece for piece in pieces)
    assert pieces[0] == b"da"
    for char in "你🌍":
        encoded = char.encode()
        assert not any(encoded in piece for piece in pieces)  # every character is cut
    assert all(1 <= len(piece) <= 3 for piece in split_for_wire(data, (1, 2, 3)))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_split_bytes_still_parses(protocol: str, client: httpx.Client) -> None:
    reply = "Hi 你好🌍 ok"
    with FakeUpstream(reply=reply) as server:
        server.set_scenario("split_bytes", chunk_sizes=(1, 2, 3, 40), write_delay=0.001)
        _, chunks = post_stream(client, server, protocol)
    events_count = len(parse_sse(b"".join(chunks)))
    assert len(chunks) > 2 * events_count  # written a few bytes at a time
    parser = SseParser()
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    assert reply_text(protocol, events) == reply


def test_naive_decoding_breaks_on_split_bytes(client: httpx.Client) -> None:
    """The scenario really bites: decoding each read on its own fails."""
    with FakeUpstream(reply="你好🌍") as server:
        server.set_scenario("split_bytes", chunk_sizes=(1, 2, 3, 40), write_delay=0.005)
        _, chunks = post_stream(client, server, "openai")
    with pytest.raises(UnicodeDecodeError):
        for chunk in chunks:
            chunk.decode()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_missing_done_closes_cleanly(
    protocol: str, fake: FakeUpstream, client: httpx.Client
) -> None:
    fake.set_scenario("missing_done")
    response, chunks = post_stream(client, fake, protocol)  # no exception: clean end
    events = parse_sse(b"".join(chunks))
    assert reply_text(protocol, events) == REPLY
    assert all(e.data != "[DONE]" and e.event != "message_stop" for e in events)
    assert fake.requests[0].finished_at is not None and response.is_closed


def test_double_done(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("double_done")
    _, chunks = post_stream(client, fake, "openai")
    events = parse_sse(b"".join(chunks))
    assert [e.data for e in events[-2:]] == ["[DONE]", "[DONE]"]
    assert reply_text("openai", events) == REPLY


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_invalid_json_line(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("invalid_json_line", after_tokens=2)
    _, chunks = post_stream(client, fake, protocol)
    events = parse_sse(b"".join(chunks))
    _, _, bad = data_payloads(events)
    assert bad == 1
    assert reply_text(protocol, events) == REPLY


def test_empty_choices_interleaved(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("empty_choices")
    _, chunks = post_stream(client, fake, "openai")
    events = parse_sse(b"".join(chunks))
    payloads, _, _ = data_payloads(events)
    empty = [p for p in payloads if p["choices"] == []]
    assert len(empty) == len(split_tokens(REPLY))
    assert reply_text("openai", events) == REPLY


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_huge_line(protocol: str, fake: FakeUpstream, client: httpx.Client) -> None:
    fake.set_scenario("huge_line")
    _, chunks = post_stream(client, fake, protocol)
    raw = b"".join(chunks)
    assert max(len(line) for line in raw.split(b"\n")) > 1 << 20
    assert reply_text(protocol, parse_sse(raw)) == REPLY


# -- ChatGPT web -----------------------------------------------------------------------------
def test_chatgpt_web_is_cumulative(fake: FakeUpstream, client: httpx.Client) -> None:
    response, chunks = post_stream(client, fake, "chatgpt_web")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(b"".join(chunks))
    assert events[-1].data == "[DONE]"
    payloads, _, _ = data_payloads(events)
    parts = [p["message"]["content"]["parts"][0] for p in payloads]
    tokens = split_tokens(REPLY)
    assert parts[:-1] == ["".join(tokens[: i + 1]) for i in range(len(tokens))]
    assert parts[-1] == REPLY
    assert len({p["message"]["id"] for p in payloads}) == 1
    assert len({p["conversation_id"] for p in payloads}) == 1
    assert all(p["message"]["author"]["role"] == "assistant" for p in payloads)
    assert payloads[-1]["message"]["status"] == "finished_successfully"
    assert payloads[-1]["message"]["end_turn"] is True
    record = fake.requests[0]
    assert record.headers["authorization"] == "Bearer access-token-1"
    assert record.message_id == payloads[0]["message"]["id"]
    assert record.conversation_id == payloads[0]["conversation_id"]
    assert record.parent_message_id == "00000000-0000-4000-8000-000000000000"
    assert record.user_message_id == "11111111-1111-4111-8111-111111111111"


def test_chatgpt_web_conversation_chain(fake: FakeUpstream, client: httpx.Client) -> None:
    _, chunks = post_stream(client, fake, "chatgpt_web")
    first = data_payloads(parse_sse(b"".join(chunks)))[0][-1]
    conversation_id, assistant_id = first["conversation_id"], first["message"]["id"]
    follow_up = body_for(
        "chatgpt_web", "and then?", conversation_id=conversation_id, parent_message_id=assistant_id
    )
    follow_up["messages"][0]["id"] = "22222222-2222-4222-8222-222222222222"
    _, chunks = post_stream(client, fake, "chatgpt_web", follow_up)
    second = data_payloads(parse_sse(b"".join(chunks)))[0][-1]
    assert second["conversation_id"] == conversation_id
    assert second["message"]["id"] != assistant_id
    assert second["message"]["metadata"]["parent_id"] == "22222222-2222-4222-8222-222222222222"
    turns = fake.conversations[conversation_id]
    assert [(t.parent_message_id, t.assistant_message_id) for t in turns] == [
        ("00000000-0000-4000-8000-000000000000", assistant_id),
        (assistant_id, second["message"]["id"]),
    ]
    assert [r.parent_message_id for r in fake.requests] == [
        "00000000-0000-4000-8000-000000000000",
        assistant_id,
    ]
    # A broken chain is refused: unknown conversation, or a parent outside it.
    unknown = body_for("chatgpt_web", conversation_id="nope", parent_message_id=assistant_id)
    response, _ = post_stream(client, fake, "chatgpt_web", unknown)
    assert response.status_code == 404
    orphan = body_for("chatgpt_web", conversation_id=conversation_id, parent_message_id="nope")
    response, chunks = post_stream(client, fake, "chatgpt_web", orphan)
    assert response.status_code == 404 and "detail" in orjson.loads(b"".join(chunks))
    fake.strict_conversations = False
    assert post_stream(client, fake, "chatgpt_web", orphan)[0].status_code == 200


async def test_chatgpt_web_one_request_per_access_token() -> None:
    with FakeUpstream(reply="one two three four five six", token_delay=0.03) as server:
        url = server.base_url + PATHS["chatgpt_web"]
        async with httpx.AsyncClient(timeout=5, verify=_SSL) as client:

            async def converse(token: str) -> tuple[int, bytes]:
                headers = {"Authorization": f"Bearer {token}"}
                async with client.stream(
                    "POST", url, json=body_for("chatgpt_web"), headers=headers
                ) as response:
                    return response.status_code, await response.aread()

            first = asyncio.create_task(converse("token-a"))
            await server.await_for(lambda f: f.calls() == 1 and f.requests[0].tokens_sent >= 1)
            busy_status, busy_body = await converse("token-a")
            assert busy_status == 429
            assert orjson.loads(busy_body) == {"detail": BUSY_DETAIL}
            other_status, _ = await converse("token-b")  # another token is fine
            assert other_status == 200
            status, text = await first
            assert status == 200 and reply_text("chatgpt_web", parse_sse(text)).endswith("six")
            again_status, _ = await converse("token-a")  # free again once finished
            assert again_status == 200
    assert [r.scenario for r in server.requests] == ["normal", "busy", "normal", "normal"]


# -- control plane, subprocess, async, TLS -----------------------------------------------------
def test_control_plane(fake: FakeUpstream, client: httpx.Client) -> None:
    control = fake.base_url + "/__control/"
    response = client.post(control + "scenario", json={"name": "server_error", "status": 503})
    assert response.status_code == 200 and response.json()["scenario"]["status"] == 503
    assert post_stream(client, fake, "openai")[0].status_code == 503
    names = ["rate_limited", {"name": "html_error", "status": 504}]
    assert client.post(control + "queue", json={"names": names}).status_code == 200
    statuses = [post_stream(client, fake, "openai")[0].status_code for _ in range(3)]
    assert statuses == [429, 504, 503]
    records = client.get(control + "requests").json()
    assert [r["status"] for r in records] == [503, 429, 504, 503]
    assert records[0]["path"] == "/v1/chat/completions" and records[0]["json"]["stream"] is True
    assert client.post(control + "reset").status_code == 200
    assert client.get(control + "requests").json() == []
    config = {"reply": "configured 回复", "token_delay": 0.0, "valid_keys": ["sk-test"]}
    assert client.post(control + "config", json=config).status_code == 200
    _, chunks = post_stream(client, fake, "openai")
    assert reply_text("openai", parse_sse(b"".join(chunks))) == "configured 回复"
    assert client.post(control + "scenario", json={"name": "bogus"}).status_code == 400
    assert client.get(control + "health").json()["ok"] is True
    assert fake.calls() == 1  # control requests are not recorded


def test_runs_as_a_subprocess(client: httpx.Client) -> None:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tests.fakes.upstream", "--port", "0",
            "--reply", "Sub 进程 ✓", "--token-delay", "0", "--scenario", "normal",
        ],
        cwd=_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = client.post(url + "/v1/chat/completions", json=body_for("openai"))
        assert reply_text("openai", parse_sse(response.content)) == "Sub 进程 ✓"
        records = client.get(url + "/__control/requests").json()
        assert len(records) == 1 and records[0]["tokens_sent"] == 3
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


async def test_works_from_an_async_test(fake: FakeUpstream) -> None:
    async with httpx.AsyncClient(timeout=5, verify=_SSL) as client:
        async with client.stream(
            "POST", fake.base_url + PATHS["anthropic"], json=body_for("anthropic")
        ) as response:
            parser = SseParser()
            events = [e async for chunk in response.aiter_raw() for e in parser.feed(chunk)]
        assert reply_text("anthropic", events) == REPLY
    await fake.await_for(lambda f: f.requests[0].finished_at is not None)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls() -> None:
    with FakeUpstream(tls=True) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=server.ssl_client_context, timeout=5) as client:
            _, chunks = post_stream(client, server, "openai")
        assert reply_text("openai", parse_sse(b"".join(chunks))) == "Hello 你好 🌍 world"


def test_blackhole_hits_the_connect_timeout() -> None:
    with (
        Blackhole() as hole,
        httpx.Client(timeout=httpx.Timeout(5, connect=0.2), verify=_SSL) as client,
    ):
        started = time.monotonic()
        with pytest.raises(httpx.ConnectTimeout):
            client.get(hole.url + "/v1/models")
        assert 0.15 <= time.monotonic() - started < 1.5


# -- the SSE parser the tests rely on ----------------------------------------------------------
def test_sse_parser_handles_every_line_ending_and_split() -> None:
    raw = "\ufeffdata: a\r\ndata: 你\r\revent: x\ndata: b\n\n: c\ndata:  two spaces\r\n\r\n"
    expected = [SseEvent("a\n你"), SseEvent("b", event="x"), SseEvent(" two spaces")]
    encoded = raw.encode()
    assert parse_sse(encoded) == expected
    for cut in range(1, len(encoded)):  # every possible split point, including inside 你
        assert parse_sse([encoded[:cut], encoded[cut:]]) == expected
    assert parse_sse([bytes([b]) for b in encoded]) == expected


def test_sse_parser_drops_an_unterminated_event() -> None:
    assert parse_sse(b"data: complete\n\ndata: cut off") == [SseEvent("complete")]
    assert parse_sse(b"id: 7\nretry: 10\ndata: x\n\n") == [SseEvent("x", id="7", retry=10)]
