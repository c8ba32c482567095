"""Canary secrets — an API key, a ChatGPT access token, a proxy password, the shared access
password, and a key and proxy saved in the admin console — appear in no API response, page,
built asset, error, log line, backup or database file."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from chatgate.app import STATIC_DIR
from tests.conftest import PASSWORD
from tests.fakes.proxies import HttpConnectProxy
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config

pytestmark = pytest.mark.slow
CANARIES = (
    "sk-CANARY-UPSTREAM-0123456789",
    "AT-CANARY-ACCESSTOKEN-0123456789",
    "PROXYCANARY",
    "ACCESSCANARY-pw",
    "sk-CANARY-CONSOLE-0123456789",
)


def _assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked in {where}"
    assert "CANARY" not in text.upper(), f"part of a canary leaked in {where}"


def test_canaries_appear_nowhere(tmp_path: Path) -> None:
    with (
        FakeUpstream(reply="fine", valid_keys=[CANARIES[0], CANARIES[1], CANARIES[4]]) as fake,
        HttpConnectProxy(username="proxyuser", password=CANARIES[2]) as proxy,
    ):
        providers = [
            {
                "name": "oa",
                "kind": "openai",
                "base_url": f"{fake.base_url}/v1",
                "models": ["fake-model"],
                "credentials": [{"api_key": CANARIES[0], "proxy": proxy.url}],
            },
            {
                "name": "web",
                "kind": "chatgpt_web",
                "base_url": f"{fake.base_url}/backend-api/conversation",
                "models": [{"id": "web-fake", "upstream": "auto"}],
                "credentials": [{"api_key": CANARIES[1]}],
            },
        ]
        config = write_config(
            tmp_path / "chatgate.toml",
            providers,
            default_model="fake-model",
            auth_mode="password",
            access_password=CANARIES[3],
            log_level="debug",
        )
        server = ChatGateProcess(tmp_path / "data", config)
        server.cli("user", "add", "root", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
        doctor = server.cli("doctor")
        _assert_clean("chatgate doctor", doctor.stdout + doctor.stderr)
        server.start()
        seen: list[tuple[str, str]] = []
        try:
            with (
                httpx.Client(base_url=server.url, timeout=30) as admin,
                httpx.Client(base_url=server.url, timeout=30) as guest,
            ):
                admin.post(
                    "/api/auth/login", json={"username": "root", "password": PASSWORD}
                ).raise_for_status()
                guest.post("/api/auth/login", json={"password": CANARIES[3]}).raise_for_status()
                wrong = guest.post("/api/auth/login", json={"password": CANARIES[3] + "x"})
                seen.append(("wrong access password", wrong.text))
                for client in (admin, guest):
                    for model in ("fake-model", "web-fake"):
                        cid = client.post(
                            "/api/conversations", json={"settings": {"model": model}}
                        ).json()["id"]
                        seen.append(
                            (
                                f"chat {model}",
                                client.post(
                                    f"/api/conversations/{cid}/messages", json={"content": "hi"}
                                ).text,
                            )
                        )
                # A key and a proxy saved in the admin console, used, tested and listed.
                console = {
                    "kind": "openai",
                    "base_url": f"{fake.base_url}/v1",
                    "api_key": CANARIES[4],
                    "proxy": proxy.url,
                }
                created = admin.post(
                    "/api/admin/upstreams/providers",
                    json={**console, "name": "console", "models": ["fake-model-2"]},
                )
                assert created.status_code == 201, created.text
                seen.append(("console provider created", created.text))
                test = admin.post(
                    "/api/admin/upstreams/test", json={**console, "model": "fake-model-2"}
                )
                assert "event: done" in test.text
                seen.append(("console connection test", test.text))
                wrong_key = {**console, "api_key": CANARIES[4] + "-wrong", "model": "fake-model-2"}
                fake.set_scenario("echo_key")
                seen.append(
                    (
                        "console test refused",
                        admin.post("/api/admin/upstreams/test", json=wrong_key).text,
                    )
                )
                fake.set_scenario("normal")
                cid = guest.post("/api/conversations", json={}).json()["id"]
                answer = guest.post(
                    f"/api/conversations/{cid}/messages",
                    json={"content": "hi", "model": "fake-model-2"},
                )
                assert "fine" in answer.text
                seen.append(("chat through the console's key", answer.text))
                assert fake.requests[-1].headers["authorization"] == f"Bearer {CANARIES[4]}"
                fake.set_scenario("auth_error")
                cid = admin.post("/api/conversations", json={}).json()["id"]
                seen.append(
                    (
                        "upstream refused",
                        admin.post(
                            f"/api/conversations/{cid}/messages", json={"content": "hi"}
                        ).text,
                    )
                )
                fake.set_scenario("html_error")
                seen.append(
                    (
                        "html error",
                        admin.post(
                            f"/api/conversations/{cid}/messages", json={"content": "hi"}
                        ).text,
                    )
                )
                paths = [
                    p
                    for p, item in admin.get("/openapi.json").json()["paths"].items()
                    if "get" in item and "{" not in p
                ]
                for path in [
                    *paths,
                    "/openapi.json",
                    "/",
                    "/setup",
                    "/no-such-page",
                    "/api/no-such-route",
                ]:
                    for client in (admin, guest):
                        response = client.get(path)
                        seen.append((f"GET {path}", response.text + str(response.headers)))
        finally:
            server.stop()
        for where, text in seen:
            _assert_clean(where, text)
        _assert_clean("the server log", server.log.read_text())
        copy = tmp_path / "backup.db"
        server.cli("backup", str(copy))
        database = sorted((tmp_path / "data").glob("chatgate.db*"))
        assert database, "the database file is where the test expects it"
        for stored in [copy, *database]:
            _assert_clean(str(stored), stored.read_bytes().decode("latin-1"))
        assert any("upstream" in line for line in server.log.read_text().splitlines())
        if STATIC_DIR.joinpath("index.html").exists():
            for asset in STATIC_DIR.rglob("*"):
                if asset.is_file() and asset.suffix in {
                    ".js",
                    ".html",
                    ".json",
                    ".map",
                    ".css",
                    ".webmanifest",
                }:
                    _assert_clean(str(asset), asset.read_text(errors="replace"))
        assert re.search(r"request.*status=200", server.log.read_text())
