"""Canary secrets — an API key, a ChatGPT access token, a proxy password, the shared access
password — appear in no API response, page, built asset, error or log line."""

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
)


def _assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked in {where}"
    assert "CANARY" not in text.upper(), f"part of a canary leaked in {where}"


def test_canaries_appear_nowhere(tmp_path: Path) -> None:
    with (
        FakeUpstream(reply="fine", valid_keys=[CANARIES[0], CANARIES[1]]) as fake,
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
