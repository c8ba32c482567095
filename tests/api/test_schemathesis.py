"""Schemathesis fuzzes every operation of /openapi.json as a normal signed-in user (a session
cookie, as the web app has): no 5xx, every response matches its documented schema, status code
and content type. A bounded number of examples per operation keeps it to a few minutes; it runs
in CI with the rest of `make pytest`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import PASSWORD
from tests.fakes.upstream import FakeUpstream
from tests.support.server import ChatGateProcess, write_config

# Bounded by examples per operation, not by time: its own limit is the subprocess's (900 s), not
# the suite's per-test 120 s, which a loaded machine and the growing API outran.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary, "schemathesis is a dev dependency"
    fake.reply = "fuzzed"
    config = write_config(
        tmp_path / "chatgate.toml", providers_for(fake), default_model="fake-model"
    )
    server = ChatGateProcess(tmp_path / "data", config)
    server.cli("user", "add", "fuzzer", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.post(
                "/api/auth/login", json={"username": "fuzzer", "password": PASSWORD}
            ).raise_for_status()
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
            # Something to find: conversations with answers, a share link.
            cid = client.post("/api/conversations", json={"title": "seed"}).json()["id"]
            client.post(f"/api/conversations/{cid}/messages", json={"content": "hi"})
            client.post(f"/api/conversations/{cid}/shares")
        result = subprocess.run(
            [
                binary,
                "run",
                f"{server.url}/openapi.json",
                "--header",
                f"Cookie: {cookie}",
                "--checks",
                CHECKS,
                "--max-examples",
                "20",
                "--workers",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
                "--seed",
                "20261128",
                # Changing the caller's own password or signing out would end the fuzzer's session.
                "--exclude-path-regex",
                "^/api/auth/(password|logout|sessions)",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        server.stop()
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
