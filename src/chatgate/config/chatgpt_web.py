"""chatgpt-web's environment variables, translated into ChatGate settings.

A chatgpt-web `service/.env` must work unchanged, so each of its variables maps onto the setting
that does the same job here. `chatgate doctor` prints the mapping (secrets masked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from chatgate.config.masking import mask_proxy, mask_secret
from chatgate.config.settings import SettingsError

OPENAI_DEFAULT_BASE = "https://api.openai.com"
# chatgpt-web's own defaults, so a migrated deployment answers with the same models.
OPENAI_DEFAULT_MODEL = "gpt-3.5-turbo"
ACCESS_TOKEN_DEFAULT_MODEL = "text-davinci-002-render-sha"

# Read by chatgpt-web but meaningless here; accepted so an old .env does not stop the startup.
IGNORED = {
    "OPENAI_API_DISABLE_DEBUG": "ChatGate never logs prompts or keys",
}


@dataclass(frozen=True)
class MappedVariable:
    """One chatgpt-web variable and the setting it became."""

    variable: str
    target: str
    value: str  # masked when secret


@dataclass
class Translation:
    values: dict[str, Any] = field(default_factory=dict)
    mapped: list[MappedVariable] = field(default_factory=list)
    variable_for: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, variable: str, shown: str) -> None:
        self.values[key] = value
        self.variable_for[key] = variable
        self.mapped.append(MappedVariable(variable, key, shown))


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def openai_base_url(base: str | None) -> str:
    """chatgpt-web appends `/v1` unless the URL already has it; so do we."""
    url = (base or OPENAI_DEFAULT_BASE).rstrip("/")
    return url if url.endswith("/v1") or "/v1/" in url else f"{url}/v1"


def _proxy_from(env: Mapping[str, str], out: Translation) -> None:
    host = _get(env, "SOCKS_PROXY_HOST")
    port = _get(env, "SOCKS_PROXY_PORT")
    if host or port:
        if not (host and port):
            raise SettingsError("SOCKS_PROXY_HOST and SOCKS_PROXY_PORT must be set together.")
        if not port.isdigit():
            raise SettingsError(f"SOCKS_PROXY_PORT must be a port number, not {port!r}.")
        user = _get(env, "SOCKS_PROXY_USERNAME")
        password = _get(env, "SOCKS_PROXY_PASSWORD")
        auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        # socks5h: the proxy resolves names, which is what people behind a SOCKS proxy need.
        url = f"socks5h://{auth}{host}:{port}"
        shown = f"socks5h://{'user:••••@' if user else ''}{host}:{port}"
        names = "SOCKS_PROXY_HOST/PORT" + ("/USERNAME/PASSWORD" if user else "")
        out.set("proxy", url, names, shown)
        return
    for name in ("HTTPS_PROXY", "ALL_PROXY"):
        value = _get(env, name)
        if value:
            out.set("proxy", value, name, mask_proxy(value))
            return


def translate(env: Mapping[str, str], *, existing_providers: list[Any]) -> Translation:
    out = Translation()
    taken = {p.get("name") for p in existing_providers if isinstance(p, dict)}
    providers: list[dict[str, Any]] = []

    key = _get(env, "OPENAI_API_KEY")
    model = _get(env, "OPENAI_API_MODEL")
    if key:
        if "openai" in taken:
            raise SettingsError(
                "OPENAI_API_KEY configures a provider named 'openai', but chatgate.toml defines one "
                "too. Keep one: remove OPENAI_API_KEY or the [[providers]] entry named 'openai'."
            )
        base = openai_base_url(_get(env, "OPENAI_API_BASE_URL"))
        providers.append(
            {
                "name": "openai",
                "kind": "openai",
                "base_url": base,
                "models": [model or OPENAI_DEFAULT_MODEL],
                "credentials": [{"name": "OPENAI_API_KEY", "api_key": key}],
            }
        )
        out.mapped.append(
            MappedVariable(
                "OPENAI_API_KEY", "providers[openai].credentials[0].api_key", mask_secret(key)
            )
        )
        out.mapped.append(MappedVariable("OPENAI_API_BASE_URL", "providers[openai].base_url", base))
    token = _get(env, "OPENAI_ACCESS_TOKEN")
    if token:
        proxy_url = _get(env, "API_REVERSE_PROXY")
        if not proxy_url:
            raise SettingsError(
                "OPENAI_ACCESS_TOKEN is set but API_REVERSE_PROXY is not. ChatGate has no default "
                "reverse proxy: set API_REVERSE_PROXY to a proxy you trust (its operator can see the token)."
            )
        if "chatgpt-web" in taken:
            raise SettingsError(
                "OPENAI_ACCESS_TOKEN configures provider 'chatgpt-web', which chatgate.toml defines too."
            )
        providers.append(
            {
                "name": "chatgpt-web",
                "kind": "chatgpt_web",
                "base_url": proxy_url,
                "models": [model if model and not key else ACCESS_TOKEN_DEFAULT_MODEL],
                "credentials": [
                    {"name": "OPENAI_ACCESS_TOKEN", "api_key": token, "concurrency": 1}
                ],
            }
        )
        out.mapped.append(
            MappedVariable(
                "OPENAI_ACCESS_TOKEN",
                "providers[chatgpt-web].credentials[0].api_key",
                mask_secret(token),
            )
        )
        out.mapped.append(
            MappedVariable("API_REVERSE_PROXY", "providers[chatgpt-web].base_url", proxy_url)
        )
    if providers:
        out.values["providers"] = providers
        out.variable_for["providers"] = "OPENAI_API_KEY/OPENAI_ACCESS_TOKEN"
    if model and providers:
        out.set("default_model", model, "OPENAI_API_MODEL", model)

    secret = _get(env, "AUTH_SECRET_KEY")
    if secret:
        out.set("auth_mode", "password", "AUTH_SECRET_KEY", "password")
        out.values["access_password"] = secret
        out.variable_for["access_password"] = "AUTH_SECRET_KEY"
        out.mapped.append(MappedVariable("AUTH_SECRET_KEY", "access_password", mask_secret(secret)))

    per_hour = _get(env, "MAX_REQUEST_PER_HOUR")
    if per_hour:
        if not per_hour.isdigit():
            raise SettingsError(f"MAX_REQUEST_PER_HOUR must be a whole number, not {per_hour!r}.")
        if int(per_hour) > 0:  # chatgpt-web treats 0 as "no limit"
            out.set(
                "quotas",
                {"requests_per_hour": int(per_hour)},
                "MAX_REQUEST_PER_HOUR",
                f"{per_hour} per user",
            )

    timeout_ms = _get(env, "TIMEOUT_MS")
    if timeout_ms:
        if not timeout_ms.isdigit() or int(timeout_ms) == 0:
            raise SettingsError(
                f"TIMEOUT_MS must be a positive number of milliseconds, not {timeout_ms!r}."
            )
        # chatgpt-web's total deadline cut long answers off; here it bounds the silence between tokens.
        seconds = int(timeout_ms) / 1000
        out.set("idle_timeout", seconds, "TIMEOUT_MS", f"{seconds:g} s between tokens")

    _proxy_from(env, out)
    for name, reason in IGNORED.items():
        if _get(env, name):
            out.mapped.append(MappedVariable(name, "(ignored)", reason))
    return out
