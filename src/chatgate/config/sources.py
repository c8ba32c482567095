"""Where the settings come from, read once at startup, and which source gave each value.

Sources, highest precedence first:

1. explicit overrides (command-line flags),
2. `CHATGATE_*` environment variables (nested with `__`, lists as JSON),
3. `CHATGATE_*` lines of the `--env-file`,
4. chatgpt-web's variable names (`OPENAI_API_KEY`, `AUTH_SECRET_KEY`, …) from the environment or
   the `--env-file`, translated by `chatgate.config.chatgpt_web`,
5. `chatgate.toml` (providers, credentials, quotas),
6. defaults.

A setting given by two sources with different values is an error when one of them is a
chatgpt-web variable (an old `.env` left next to a new configuration is a common mistake);
otherwise the higher source wins. Unknown `CHATGATE_*` variables and unknown keys in
`chatgate.toml` stop the startup with a message that names them.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from chatgate.config.chatgpt_web import MappedVariable, translate
from chatgate.config.settings import ENV_PREFIX, Settings, SettingsError


@dataclass(frozen=True)
class SettingSource:
    """Where an effective value came from, for `chatgate doctor`."""

    origin: str  # "default", "flag", "environment", "env file", "chatgpt-web", "chatgate.toml"
    detail: str = ""


@dataclass
class LoadedSettings:
    settings: Settings
    sources: dict[str, SettingSource] = field(default_factory=dict)
    mapped: list[MappedVariable] = field(default_factory=list)
    config_file: Path | None = None
    env_file: Path | None = None


def _env_source(environ: Mapping[str, str]) -> dict[str, Any]:
    source = EnvSettingsSource(
        Settings,
        case_sensitive=False,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
    )
    source.env_vars = {k.lower(): v for k, v in environ.items()}
    return dict(source())


def _dotenv_source(env_file: Path) -> dict[str, Any]:
    source = DotEnvSettingsSource(
        Settings,
        env_file=env_file,
        case_sensitive=False,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
    )
    # DotEnvSettingsSource also reads the process environment; keep only the file's own values.
    source.env_vars = {k.lower(): v for k, v in source._read_env_files().items()}
    return dict(source())


# Variables that name where the settings are, rather than being settings.
LOCATOR_VARIABLES = frozenset({"CONFIG_FILE", "ENV_FILE"})


def _check_unknown_variables(names: list[str], where: str) -> None:
    known = {f.upper() for f in Settings.model_fields} | LOCATOR_VARIABLES
    for name in names:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        head = name.upper()[len(ENV_PREFIX) :].split("__", 1)[0]
        if head not in known:
            hint = difflib.get_close_matches(head, known, n=1)
            suggestion = f" Did you mean {ENV_PREFIX}{hint[0]}?" if hint else ""
            raise SettingsError(
                f"Unknown setting {name} in {where}.{suggestion} See docs/configuration.md."
            )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"Cannot read the configuration file {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}.") from exc
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(Settings.model_fields), n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        raise SettingsError(
            f"Unknown setting {unknown[0]!r} in {path}.{suggestion} See docs/configuration.md."
        )
    return data


def _dotenv_all(env_file: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not env_file.is_file():
        raise SettingsError(f"The env file {env_file} does not exist.")
    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def load_settings(
    *,
    overrides: Mapping[str, Any] | None = None,
    env_file: Path | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read every source, check it, and return the settings with where each value came from."""
    env = dict(os.environ if environ is None else environ)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_unknown_variables(list(env), "the environment")

    file_values: dict[str, str] = {}
    if env_file is None and env.get(f"{ENV_PREFIX}ENV_FILE"):
        env_file = Path(env[f"{ENV_PREFIX}ENV_FILE"])
    if env_file is not None:
        file_values = _dotenv_all(env_file)
        _check_unknown_variables(list(file_values), str(env_file))

    if config_file is None:
        named = env.get(f"{ENV_PREFIX}CONFIG_FILE") or file_values.get(f"{ENV_PREFIX}CONFIG_FILE")
        if named:
            config_file = Path(named)
            if not config_file.is_file():
                raise SettingsError(
                    f"CHATGATE_CONFIG_FILE names {config_file}, which does not exist."
                )
        elif Path("chatgate.toml").is_file():
            config_file = Path("chatgate.toml")
    toml_values = _read_toml(config_file) if config_file else {}

    env_values = _env_source(
        {k: v for k, v in env.items() if not k.upper().endswith(("CONFIG_FILE", "ENV_FILE"))}
    )
    dotenv_values_ = (
        _dotenv_source(env_file)
        if env_file is not None and any(k.upper().startswith(ENV_PREFIX) for k in file_values)
        else {}
    )
    dotenv_values_ = {
        k: v for k, v in dotenv_values_.items() if k not in ("config_file", "env_file")
    }
    legacy = translate({**file_values, **env}, existing_providers=toml_values.get("providers", []))

    layers: list[tuple[SettingSource, dict[str, Any]]] = [
        (SettingSource("chatgate.toml", str(config_file or "")), toml_values),
        (SettingSource("chatgpt-web"), legacy.values),
        (SettingSource("env file", str(env_file or "")), dotenv_values_),
        (SettingSource("environment"), env_values),
        (SettingSource("flag"), dict(overrides)),
    ]
    merged: dict[str, Any] = {}
    sources: dict[str, SettingSource] = {}
    for source, values in layers:
        for key, value in values.items():
            if key == "providers" and source.origin == "chatgpt-web":
                merged["providers"] = [*merged.get("providers", []), *value]
                sources.setdefault("providers", source)
                continue
            if (
                key in merged
                and sources[key].origin == "chatgpt-web"
                and _normalise(merged[key]) != _normalise(value)
            ):
                variable = legacy.variable_for.get(key, "a chatgpt-web variable")
                raise SettingsError(
                    f"Contradictory settings: {variable} sets {key} to {_show(key, merged[key])}, but the "
                    f"{source.origin} sets it to {_show(key, value)}. Remove one of them."
                )
            merged[key] = value
            sources[key] = source
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from exc
    for name in Settings.model_fields:
        sources.setdefault(name, SettingSource("default"))
    return LoadedSettings(settings, sources, legacy.mapped, config_file, env_file)


def _normalise(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, StrEnum):
        return value.value
    return str(value) if not isinstance(value, dict | list) else value


def _show(key: str, value: Any) -> str:
    if key in SECRET_FIELDS:
        return "(a secret)"
    return repr(_normalise(value))


SECRET_FIELDS = frozenset({"access_password", "proxy", "secret_key"})


def _explain(exc: ValidationError) -> str:
    lines = ["The configuration is invalid:"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)
