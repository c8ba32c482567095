"""Schemathesis fuzzes every operation of /openapi.json, signed in (an admin's API key): no
5xx, every response matches its documented schema, status code and content type."""

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

pytestmark = pytest.mark.slow
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
    server.cli("user", "add", "root", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.post(
                "/api/auth/login", json={"username": "root", "password": PASSWORD}
            ).raise_for_status()
            key = client.post("/api/account/keys", json={"name": "fuzz"}).json()["key"]
        result = subprocess.run(
            [
                binary,
                "run",
                f"{server.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {key}",
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
                # Changing the caller's own password or disabling them would sign the fuzzer out.
                "--exclude-path",
                "/api/auth/password",
                "--exclude-path",
                "/api/auth/logout",
                "--exclude-path-regex",
                "^/api/admin/users/\\{user_id\\}$",
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
