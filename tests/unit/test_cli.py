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
    result = run(["doctor", "--env-file", str(env_file)], tmp_path)
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
