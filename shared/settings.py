"""The settings Tenantry reads, declared once: names, defaults, and which are required."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Azure storage account names: 3-24 lowercase letters and digits. Region names become part of
# setting names and queue names, so they are kept to the same alphabet.
_REGION_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")

# The control account (partner directory) has its own prefix: AzureWebJobsStorage belongs to the
# Functions host of each stamp (leases, timer state, keys) and stays in the stamp's own account.
CONTROL_STORAGE_SETTING = "TENANTRY_STORAGE_CONTROL"


def region_storage_setting(region: str) -> str:
    """The connection setting that names a region's storage account (also used by queue triggers)."""
    return f"TENANTRY_STORAGE_{region.upper()}"


@dataclass(frozen=True)
class StorageTarget:
    """Where one storage account is: a connection string (local) or an account name (Azure, identity)."""

    setting: str
    connection_string: str | None = None
    account_name: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    def describe(self) -> str:
        """A log-safe description: never the key inside a connection string."""
        if self.account_name:
            return self.account_name
        match = re.search(r"AccountName=([^;]+)", self.connection_string or "")
        return match.group(1) if match else self.setting


def storage_target(setting: str, environ: dict[str, str] | None = None) -> StorageTarget | None:
    """Reads a storage connection the way the Functions host does.

    `<setting>` holds a connection string; `<setting>__accountName` (identity-based connection)
    names an account reached with DefaultAzureCredential. The same names serve queue triggers,
    so one setting points both our clients and the host at the account.
    """
    env = os.environ if environ is None else environ
    connection_string = env.get(setting)
    if connection_string:
        match = re.search(r"AccountName=([^;]+)", connection_string)
        return StorageTarget(setting, connection_string, match.group(1) if match else None)
    account_name = env.get(f"{setting}__accountName")
    if account_name:
        return StorageTarget(setting, None, account_name)
    return None


class Settings(BaseSettings):
    """Every plain setting the app reads. Per-region storage is resolved by `region_storage_setting`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    regions: Annotated[tuple[str, ...], NoDecode] = Field(
        alias="TENANTRY_REGIONS",
        description="Regions a partner may choose; each needs its storage setting.",
    )
    operator_api_key: SecretStr = Field(
        alias="OPERATOR_API_KEY",
        description="The platform operator's key (x-api-key). A Key Vault reference in Azure.",
    )
    api_key_pepper: SecretStr = Field(
        alias="API_KEY_PEPPER",
        description="Secret mixed into API-key hashes, so a leaked table alone cannot test guesses.",
    )
    entra_audience: str = Field(
        alias="ENTRA_AUDIENCE",
        description="The app's client id (or App ID URI): the audience personnel tokens must carry.",
    )
    entra_authority_host: str = Field(
        default="https://login.microsoftonline.com",
        alias="ENTRA_AUTHORITY_HOST",
        description="Issuer of personnel tokens is `<host>/<partner's Entra tenant id>/v2.0`.",
    )
    entra_jwks_url: str = Field(
        default="https://login.microsoftonline.com/common/discovery/v2.0/keys",
        alias="ENTRA_JWKS_URL",
        description="Where the issuer's signing keys are published.",
    )
    request_timeout_seconds: float = Field(
        default=5.0,
        alias="TENANTRY_STORAGE_TIMEOUT_SECONDS",
        description="How long one storage call may take before it counts as unreachable.",
    )

    @model_validator(mode="after")
    def _no_unresolved_key_vault_references(self) -> Settings:
        # App Service leaves the literal reference in place when it cannot resolve a secret;
        # running with "@Microsoft.KeyVault(...)" as an operator key or pepper would be worse
        # than not starting.
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if isinstance(text, str) and text.startswith("@Microsoft.KeyVault("):
                raise ValueError(f"{field.alias} is an unresolved Key Vault reference")
        return self

    @field_validator("regions", mode="before")
    @classmethod
    def _split_regions(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one region is required")
        for region in value:
            if not _REGION_NAME.match(region):
                raise ValueError(f"region {region!r} must be 2-16 lowercase letters and digits")
        if len(set(value)) != len(value):
            raise ValueError("regions must not repeat")
        return value


def required_setting_names(regions: tuple[str, ...]) -> list[str]:
    """Names every deployment must set (storage names are the connection-setting prefixes)."""
    names = [field.alias for field in Settings.model_fields.values() if field.alias and field.is_required()]
    names.append(CONTROL_STORAGE_SETTING)
    names.extend(region_storage_setting(region) for region in regions)
    return names


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (the host loads app settings there)."""
    return Settings()  # type: ignore[call-arg]  # values come from the environment
