"""The `chatgate` command as an administrator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_config import CHATGPT_WEB_ENV


def run(
    args: list[str], tmp_path: Path, *, stdin: str = "", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHATGATE_", "OPENAI_", "AUTH_SECRET"))
    }
    env.update({"CHATGATE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"})
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "chatgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_user_add_list_passwd_disable(tmp_path: Path) -> None:
    added = run(
        ["user", "add", "root", "--admin", "--password-stdin"],
        tmp_path,
        stdin="a long enough password\n",
    )
    assert added.returncode == 0, added.stderr
    assert "Created administrator root" in added.stdout
    duplicate = run(
        ["user", "add", "ROOT", "--password-stdin"], tmp_path, stdin="a long enough password\n"
    )
    assert duplicate.returncode == 1
    assert "taken" in duplicate.stderr
    weak = run(["user", "add", "bob", "--password-stdin"], tmp_path, stdin="short\n")
    assert weak.returncode == 1 and "at least 8" in weak.stderr

    listed = run(["user", "list"], tmp_path)
    assert "root" in listed.stdout and "admin" in listed.stdout
    assert (
        run(
            ["user", "passwd", "root", "--password-stdin"],
            tmp_path,
            stdin="another long password\n",
        ).returncode
        == 0
    )
    assert run(["user", "disable", "root"], tmp_path).returncode == 0
    assert "disabled" in run(["user", "list"], tmp_path).stdout
    missing = run(["user", "disable", "ghost"], tmp_path)
    assert missing.returncode == 1 and "ghost" in missing.stderr


def test_doctor_shows_how_chatgpt_web_variables_were_mapped_with_secrets_masked(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "service.env"
    env_file.write_text(CHATGPT_WEB_ENV)
    result = run(["doctor", "--offline", "--env-file", str(env_file)], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for variable in (
        "OPENAI_API_KEY",
        "OPENAI_API_BASE_URL",
        "AUTH_SECRET_KEY",
        "MAX_REQUEST_PER_HOUR",
        "SOCKS_PROXY_HOST",
    ):
        assert variable in out
    assert "CANARY" not in out
    assert (
        "password" in out
        and "30 per user" in out
        and "socks5h://proxyuser:••••@127.0.0.1:1080" in out
    )
    assert "Database:" in out


def test_configuration_errors_exit_2_with_the_reason(tmp_path: Path) -> None:
    result = run(["doctor"], tmp_path, extra_env={"CHATGATE_PROT": "1"})
    assert result.returncode == 2
    assert "CHATGATE_PROT" in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["version"]])
def test_simple_commands_succeed(tmp_path: Path, command: list[str]) -> None:
    assert run(command, tmp_path).returncode == 0


def test_import_command_brings_a_history_file_in(tmp_path: Path) -> None:
    data = Path(__file__).parents[1] / "data"
    assert (
        run(
            ["user", "add", "alice", "--password-stdin"], tmp_path, stdin="a long enough password\n"
        ).returncode
        == 0
    )
    result = run(["import", "--user", "alice", str(data / "chatgpt-conversations.json")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Imported 2 conversations and 7 messages (chatgpt format) for alice." in result.stdout
    assert "image" in result.stdout
    again = run(["import", "--user", "alice", str(data / "chatgpt-conversations.json")], tmp_path)
    assert "Imported 0 conversations" in again.stdout
    assert "2 skipped: already imported" in again.stdout
    missing = run(
        ["import", "--user", "nobody", str(data / "chatgpt-conversations.json")], tmp_path
    )
    assert missing.returncode == 1 and "nobody" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert run(["import", "--user", "alice", str(bad)], tmp_path).returncode == 1


def test_doctor_reports_an_unreachable_upstream_and_a_broken_proxy_without_secrets(
    tmp_path: Path,
) -> None:
    from tests.fakes.proxies import HttpConnectProxy
    from tests.fakes.upstream import FakeUpstream

    with (
        FakeUpstream(valid_keys=["sk-good-key-0123456789"]) as fake,
        HttpConnectProxy(username="u", password="PROXYSECRET") as proxy,
    ):
        broken_proxy = proxy.url.replace("PROXYSECRET", "WRONGSECRET")
        config = tmp_path / "chatgate.toml"
        config.write_text(
            f"""
[[providers]]
name = "good"
kind = "openai"
base_url = "{fake.base_url}/v1"
models = ["a"]
[[providers.credentials]]
api_key = "sk-good-key-0123456789"

[[providers]]
name = "refused"
kind = "openai"
base_url = "{fake.base_url}/v1"
models = ["b"]
[[providers.credentials]]
api_key = "sk-bad-key-SECRET-0000"

[[providers]]
name = "gone"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["c"]
[[providers.credentials]]
api_key = "sk-gone-key-SECRET-000"

[[providers]]
name = "behind-proxy"
kind = "openai"
base_url = "{fake.base_url}/v1"
models = ["d"]
proxy = "{broken_proxy}"
[[providers.credentials]]
api_key = "sk-good-key-0123456789"
"""
        )
        result = run(["doctor", "--config", str(config)], tmp_path)
    out = result.stdout
    assert result.returncode == 1
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert "ok" in lines["good"]
    assert "key is refused" in lines["refused"]
    assert "unreachable" in lines["gone"] or "timed out" in lines["gone"]
    assert "proxy" in lines["behind-proxy"].split("│")[4]
    assert "SECRET" not in out and "sk-good-key-0123456789" not in out


def test_serve_refuses_several_workers_without_a_shared_redis(tmp_path: Path) -> None:
    refused = run(["serve", "--workers", "2", "--port", "3999"], tmp_path)
    assert refused.returncode == 2
    assert "--workers needs a shared Redis" in refused.stderr
    assert not (tmp_path / "data" / "chatgate.db").exists()  # refused before touching anything
