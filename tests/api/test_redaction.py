"""An upstream that echoes the key it was sent ("Incorrect API key provided: gsk_…", as OpenAI and
Groq answer a wrong key) never gets that key out of ChatGate: not in a stream's events, a stored
message, a `/v1` error, the admin's provider list or a log line — whatever the key's shape.

The server runs as `chatgate serve` (the real logging configuration, secrets registered from the
real configuration file at startup) with debug logging; everything it says is searched.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config

pytestmark = pytest.mark.slow

# One configured key per shape: each provider below is given one of them.
KEYS = {
    "groq-model": "gsk_Rk3vN8qLx2TzW7yHc4Jm9PbQ5sDf6GhA1eUo0iYtWq2E",  # Groq
    "hex-model": "5d41402abc4b2a76b9719d911017c592",  # 32 hex digits (Azure-style)
    "claude-model": "sk-ant-api03-Qw3rTy-UiOp4sDf5gHjK6lZx7cVb8nM9-AA",  # Anthropic
    "odd-model": "Zq9.odd~Shape_key-4711",  # no known shape: only its value gives it away
}
ECHO = "Incorrect API key provided"


def _providers(fake: FakeUpstream) -> list[dict[str, object]]:
    providers: list[dict[str, object]] = []
    for index, (model, key) in enumerate(KEYS.items()):
        anthropic = model.startswith("claude")
        providers.append(
            {
                "name": f"p{index}",
                "kind": "anthropic" if anthropic else "openai",
                "base_url": fake.base_url if anthropic else f"{fake.base_url}/v1",
                "models": [{"id": model, "upstream": "fake-model"}],
                "credentials": [{"api_key": key}],
            }
        )
    return providers


def _leaks(text: str) -> list[str]:
    return [key for key in KEYS.values() if key in text]


def test_an_echoed_key_of_any_shape_leaves_no_trace(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    with FakeUpstream(reply="fine") as fake:
        config = write_config(
            tmp_path / "chatgate.toml",
            _providers(fake),
            default_model="groq-model",
            log_level="debug",
        )
        server = ChatGateProcess(tmp_path / "data", config)
        server.cli("user", "add", "root", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as web:
                web.post(
                    "/api/auth/login", json={"username": "root", "password": PASSWORD}
                ).raise_for_status()
                api_key = web.post("/api/account/keys", json={"name": "script"}).json()["key"]
                gateway = {"Authorization": f"Bearer {api_key}"}
                # 400 quotes the upstream's reason to the user; 401 makes the credential rest
                # with the reason shown to the administrator; 500 is only logged.
                for status in (400, 500, 401):
                    fake.set_scenario("echo_key", status=status)
                    for model in KEYS:
                        cid = web.post(
                            "/api/conversations", json={"settings": {"model": model}}
                        ).json()["id"]
                        stream = web.post(
                            f"/api/conversations/{cid}/messages", json={"content": "hi"}
                        )
                        seen.append((f"{status} {model}: SSE", stream.text))
                        assert "event: error" in stream.text, stream.text
                        stored = web.get(f"/api/conversations/{cid}/messages").text
                        seen.append((f"{status} {model}: stored messages", stored))
                        if status == 400:
                            assert ECHO in stream.text and ECHO in stored, stored
                        for streamed in (False, True):
                            answer = web.post(
                                "/v1/chat/completions",
                                headers=gateway,
                                json={
                                    "model": model,
                                    "stream": streamed,
                                    "messages": [{"role": "user", "content": "hi"}],
                                },
                            )
                            seen.append((f"{status} {model}: /v1 stream={streamed}", answer.text))
                            assert "error" in answer.text, answer.text
                            if status == 400:
                                assert ECHO in answer.text, answer.text
                admin = web.get("/api/admin/providers")
                seen.append(("GET /api/admin/providers", admin.text))
                assert ECHO in admin.text, "the administrator sees the (redacted) reason"
                seen.append(("GET /api/admin/audit", web.get("/api/admin/audit").text))
        finally:
            server.stop()
        sent = [
            r.headers.get("x-api-key") or r.headers.get("authorization", "") for r in fake.requests
        ]
        for key in KEYS.values():
            assert any(key in header for header in sent), f"{key} was never sent upstream"
        assert any(r.scenario == "echo_key" for r in fake.requests)
    for where, text in seen:
        assert not _leaks(text), f"{_leaks(text)} leaked in {where}: {text[:2000]}"
    log = server.log.read_text()
    assert ECHO in log, "the upstream's reason is logged (redacted)"
    leaked_lines = [line for line in log.splitlines() if _leaks(line)]
    assert not leaked_lines, leaked_lines[:5]
