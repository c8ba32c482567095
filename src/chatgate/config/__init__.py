"""Configuration: one `Settings` object, read once at startup.

Each module imports only those listed above it:

- `tables`: the nested tables of `chatgate.toml` (providers, credentials, models, quotas, OpenID);
- `settings`: the schema, every setting with its default and meaning, and the cross-checks;
- `masking`: how a secret is shown to people;
- `chatgpt_web`: chatgpt-web's variable names, translated into settings;
- `sources`: reading the flags, environment, `--env-file` and `chatgate.toml`, and remembering
  where each value came from;
- `reference`: docs/configuration.md, generated from the schema (`make docs`).
"""

from __future__ import annotations

from chatgate.config.chatgpt_web import MappedVariable
from chatgate.config.masking import mask_proxy, mask_secret
from chatgate.config.settings import (
    ENV_PREFIX,
    AuthMode,
    Registration,
    Settings,
    SettingsError,
)
from chatgate.config.sources import (
    LOCATOR_VARIABLES,
    SECRET_FIELDS,
    LoadedSettings,
    SettingSource,
    load_settings,
)
from chatgate.config.tables import (
    PROVIDER_NAME_PATTERN,
    SSO_CALLBACK_PATH,
    SSO_NAME_PATTERN,
    CABundle,
    CredentialConfig,
    ModelConfig,
    OidcProviderConfig,
    ProviderConfig,
    ProviderKind,
    QuotaConfig,
)

__all__ = [
    "ENV_PREFIX",
    "LOCATOR_VARIABLES",
    "PROVIDER_NAME_PATTERN",
    "SECRET_FIELDS",
    "SSO_CALLBACK_PATH",
    "SSO_NAME_PATTERN",
    "AuthMode",
    "CABundle",
    "CredentialConfig",
    "LoadedSettings",
    "MappedVariable",
    "ModelConfig",
    "OidcProviderConfig",
    "ProviderConfig",
    "ProviderKind",
    "QuotaConfig",
    "Registration",
    "SettingSource",
    "Settings",
    "SettingsError",
    "load_settings",
    "mask_proxy",
    "mask_secret",
]
