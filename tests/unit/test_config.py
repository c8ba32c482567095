"""Settings: sources, chatgpt-web's variables, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatgate.config import AuthMode, SettingsError, load_settings

CHATGPT_WEB_ENV = """\
# chatgpt-web service/.env
OPENAI_API_KEY=sk-CANARY-UPSTREAM-0123456789abcdef
OPENAI_API_BASE_URL=https://api.example.com
OPENAI_API_MODEL=gpt-4o-mini
AUTH_SECRET_KEY=shared-CANARY-password
MAX_REQUEST_PER_HOUR=30
TIMEOUT_MS=100000
SOCKS_PROXY_HOST=127.0.0.1
SOCKS_PROXY_PORT=1080
SOCKS_PROXY_USERNAME=proxyuser
SOCKS_PROXY_PASSWORD=PROXYCANARY
"""


def test_a_chatgpt_web_env_file_configures_the_equivalent_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(CHATGPT_WEB_ENV)
    loaded = load_settings(env_file=env_file, environ={})
    settings = loaded.settings
    assert settings.auth_mode is AuthMode.password
    assert settings.access_password is not None
    assert settings.access_password.get_secret_value() == "shared-CANARY-password"
    assert settings.quotas.requests_per_hour == 30
    assert settings.idle_timeout == 100
    assert settings.default_model == "gpt-4o-mini"
    assert settings.proxy is not None
    assert settings.proxy.get_secret_value() == "socks5h://proxyuser:PROXYCANARY@127.0.0.1:1080"
    (provider,) = settings.providers
    assert provider.base_url == "https://api.example.com/v1"
    assert [m.id for m in provider.models] == ["gpt-4o-mini"]
    assert provider.credentials[0].api_key is not None
    shown = " ".join(f"{m.variable} {m.target} {m.value}" for m in loaded.mapped)
    assert "CANARY" not in shown
    assert (
        "OPENAI_API_KEY" in shown
        and "SOCKS_PROXY_HOST" in shown
        and "MAX_REQUEST_PER_HOUR" in shown
    )


def test_the_process_environment_is_read_too() -> None:
    settings = load_settings(
        environ={"OPENAI_API_KEY": "sk-test-abcdefghijklmnop", "CHATGATE_PORT": "4000"}
    ).settings
    assert settings.port == 4000
    assert settings.providers[0].name == "openai"
    assert settings.providers[0].base_url == "https://api.openai.com/v1"


def test_unknown_chatgate_variable_is_named_with_a_suggestion() -> None:
    with pytest.raises(SettingsError, match=r"CHATGATE_PROT.*CHATGATE_PORT"):
        load_settings(environ={"CHATGATE_PROT": "3000"})


def test_unknown_key_in_the_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "chatgate.toml"
    config.write_text('defualt_model = "x"\n')
    with pytest.raises(SettingsError, match=r"defualt_model.*default_model"):
        load_settings(config_file=config, environ={})


def test_a_chatgpt_web_variable_contradicting_a_chatgate_one_stops_startup() -> None:
    with pytest.raises(SettingsError, match=r"AUTH_SECRET_KEY.*auth_mode"):
        load_settings(environ={"AUTH_SECRET_KEY": "pw-pw-pw-pw", "CHATGATE_AUTH_MODE": "accounts"})


def test_access_token_without_reverse_proxy_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="API_REVERSE_PROXY"):
        load_settings(environ={"OPENAI_ACCESS_TOKEN": "eyJ-token"})


def test_access_token_with_a_proxy_becomes_a_one_at_a_time_credential() -> None:
    settings = load_settings(
        environ={
            "OPENAI_ACCESS_TOKEN": "eyJ-token",
            "API_REVERSE_PROXY": "https://proxy.example/backend-api/conversation",
        }
    ).settings
    (provider,) = settings.providers
    assert provider.kind.value == "chatgpt_web"
    assert provider.credentials[0].concurrency == 1


def test_open_mode_refuses_a_public_address_unless_allowed() -> None:
    with pytest.raises(SettingsError, match="allow-open-network"):
        load_settings(environ={"CHATGATE_AUTH_MODE": "open"})
    assert load_settings(
        environ={"CHATGATE_AUTH_MODE": "open", "CHATGATE_HOST": "127.0.0.1"}
    ).settings
    allowed = {"CHATGATE_AUTH_MODE": "open", "CHATGATE_ALLOW_OPEN_NETWORK": "true"}
    assert load_settings(environ=allowed).settings.allow_open_network


def test_password_mode_needs_a_password() -> None:
    with pytest.raises(SettingsError, match="access password"):
        load_settings(environ={"CHATGATE_AUTH_MODE": "password"})


def test_providers_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "chatgate.toml"
    config.write_text(
        """
default_model = "claude"
[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
models = ["claude", {id = "haiku", upstream = "claude-haiku-4", context_window = 200000}]
[[providers.credentials]]
api_key = "sk-ant-xxxxxxxxxxxxxxxxxxxx"
concurrency = 3
"""
    )
    loaded = load_settings(config_file=config, environ={})
    provider = loaded.settings.providers[0]
    assert [m.id for m in provider.models] == ["claude", "haiku"]
    assert provider.models[1].upstream_name == "claude-haiku-4"
    assert loaded.sources["default_model"].origin == "chatgate.toml"


def test_malformed_values_name_the_setting() -> None:
    with pytest.raises(SettingsError, match="port"):
        load_settings(environ={"CHATGATE_PORT": "eighty"})
    with pytest.raises(SettingsError, match="MAX_REQUEST_PER_HOUR"):
        load_settings(environ={"MAX_REQUEST_PER_HOUR": "lots"})
