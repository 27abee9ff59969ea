"""The settings Tenantry reads, declared once: names, defaults, and which are required."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
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


class Subprocessor(BaseModel):
    """One sub-processor as partners see it; `regions` empty means every region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    service: str
    purpose: str
    location: str
    regions: tuple[str, ...] = ()


DEFAULT_SUBPROCESSORS = (
    Subprocessor(
        name="Microsoft Ireland Operations Ltd",
        service="Microsoft Azure (Functions, Storage, Key Vault, Monitor)",
        purpose="Hosting: compute, storage and logs of the region's stamp",
        location="Azure datacentres of the partner's chosen region",
    ),
    Subprocessor(
        name="Google Ireland Ltd",
        service="Firebase Cloud Messaging",
        purpose="Delivering push notifications to registered browsers and devices (ids and titles only)",
        location="Google's global network (EU Standard Contractual Clauses)",
    ),
)


class Settings(BaseSettings):
    """Every plain setting the app reads. Per-region storage is resolved by `region_storage_setting`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    regions: Annotated[tuple[str, ...], NoDecode] = Field(
        alias="TENANTRY_REGIONS",
        description="Regions a partner may choose; each needs its storage setting.",
    )
    operator_api_key: SecretStr = Field(
        default=SecretStr(""),
        alias="OPERATOR_API_KEY",
        description="Break-glass operator key (x-api-key), off when empty; a Key Vault reference in Azure.",
    )
    operator_tenant_id: str = Field(
        default="",
        alias="OPERATOR_TENANT_ID",
        description="The operator's own Entra tenant: operator tokens (role Tenantry.Operator) come from it.",
    )
    api_key_pepper: SecretStr = Field(
        alias="API_KEY_PEPPER",
        description="Secret mixed into API-key hashes, so a leaked table alone cannot test guesses "
        "(version 1 of the pepper; empty once dropped, when API_KEY_PEPPER_VERSIONS holds a later one).",
    )
    api_key_pepper_versions: SecretStr = Field(
        default=SecretStr(""),
        alias="API_KEY_PEPPER_VERSIONS",
        description='Later versions of the pepper, JSON {"2": "<secret>"}: the highest keys new API-key, '
        "webhook-key, device-key and device-secret hashes, every version verifies (API_KEY_PEPPER is "
        "version 1; shared/keys.py).",
    )
    entra_audience: str = Field(
        alias="ENTRA_AUDIENCE",
        description="The API's App ID URI (e.g. api://tenantry): an audience tokens may carry.",
    )
    entra_client_id: str = Field(
        default="",
        alias="ENTRA_CLIENT_ID",
        description="The API app registration's client id: the other audience tokens may carry (v2 always).",
    )
    entra_authority_host: str = Field(
        default="https://login.microsoftonline.com",
        alias="ENTRA_AUTHORITY_HOST",
        description="Issuer of v2 tokens is `<host>/<Entra tenant id>/v2.0`.",
    )
    entra_v1_issuer_host: str = Field(
        default="https://sts.windows.net",
        alias="ENTRA_V1_ISSUER_HOST",
        description="Issuer of v1 tokens is `<host>/<Entra tenant id>/`.",
    )
    entra_jwks_url: str = Field(
        default="https://login.microsoftonline.com/common/discovery/v2.0/keys",
        alias="ENTRA_JWKS_URL",
        description="Where the issuer's signing keys are published.",
    )
    portal_client_id: str = Field(
        default="",
        alias="PORTAL_CLIENT_ID",
        description="Client id of the portal's own (SPA) app registration, which signs people in with "
        "MSAL; the portal reads it from /config.json.",
    )
    portal_dist: str = Field(
        default="",
        alias="PORTAL_DIST",
        description="Folder of the built portal (`make portal`) served at `/`; empty: portal/dist of "
        "the app's own folder (the deployment package's).",
    )
    request_timeout_seconds: float = Field(
        default=5.0,
        alias="TENANTRY_STORAGE_TIMEOUT_SECONDS",
        description="How long one storage call may take before it counts as unreachable.",
    )
    trusted_proxies: int = Field(
        default=0,
        ge=0,
        le=10,
        alias="TENANTRY_TRUSTED_PROXIES",
        description="Proxies in front of the Functions front end that append to X-Forwarded-For.",
    )

    privacy_sweep_schedule: str = Field(
        default="0 30 2 * * *",
        alias="PRIVACY_SWEEP_SCHEDULE",
        description="NCRONTAB (six fields, UTC) of the retention sweep; the trigger reads it as %NAME%.",
    )
    privacy_watch_schedule: str = Field(
        default="0 */15 * * * *",
        alias="PRIVACY_WATCH_SCHEDULE",
        description="NCRONTAB of the deadline watch (data-subject requests, breaches).",
    )
    privacy_sweep_budget_seconds: float = Field(
        default=240.0,
        gt=0,
        alias="PRIVACY_SWEEP_BUDGET_SECONDS",
        description="How long one sweep invocation may work per region before it saves its cursor.",
    )
    work_lease_seconds: float = Field(
        default=120.0,
        ge=5,
        alias="TENANTRY_WORK_LEASE_SECONDS",
        description=(
            "How long a claim on work (a fan-out shard's devices, a tenant's sync, a region's sweep "
            "beyond its budget) outlives a worker that died holding it."
        ),
    )
    invoice_grace_days: int = Field(
        default=14,
        ge=0,
        le=365,
        alias="INVOICE_GRACE_DAYS",
        description="Days an invoice may stay open past its due date before the subscription turns past_due.",
    )
    tenant_sync_schedule: str = Field(
        default="0 0 */6 * * *",
        alias="TENANT_SYNC_SCHEDULE",
        description="NCRONTAB (six fields, UTC) of the tenant sync timer; the trigger reads it as %NAME%.",
    )
    graph_client_id: str = Field(
        default="",
        alias="GRAPH_CLIENT_ID",
        description="Client id of the multi-tenant (GDAP) app Tenantry reaches customer tenants with.",
    )
    graph_client_secret: SecretStr = Field(
        default=SecretStr(""),
        alias="GRAPH_CLIENT_SECRET",
        description="That app's client secret (Key Vault reference in Azure); a tenant stores only a name.",
    )
    public_url: str = Field(
        default="",
        alias="TENANTRY_PUBLIC_URL",
        description="The stamp's public origin (https://...); administrator sign-ins return to "
        "<it>/api/admin-consent/callback, which must be a redirect URI of the Graph app. Empty: the "
        "origin the request came to.",
    )
    graph_authority_host: str = Field(
        default="https://login.microsoftonline.com",
        alias="GRAPH_AUTHORITY_HOST",
        description="Where app-only tokens for customer tenants are issued.",
    )
    graph_base_url: str = Field(
        default="https://graph.microsoft.com/v1.0",
        alias="GRAPH_BASE_URL",
        description="Microsoft Graph's base URL (the local stand-in's, locally).",
    )
    graph_ca_bundle: str | None = Field(
        default=None,
        alias="GRAPH_CA_BUNDLE",
        description="Local only: the CA the Graph stand-in's TLS certificate comes from.",
    )
    firebase_project_id: str = Field(
        alias="FIREBASE_PROJECT_ID",
        description="The Firebase project push notifications are sent through (FCM HTTP v1).",
    )
    firebase_service_account: SecretStr = Field(
        alias="FIREBASE_SERVICE_ACCOUNT",
        description="The service account's key file: its JSON text (Key Vault in Azure) or, locally, a path.",
    )
    firebase_fcm_url: str | None = Field(
        default=None,
        alias="FIREBASE_FCM_URL",
        description="Local only: base URL of the FCM stand-in; unset sends to Google.",
    )
    webhook_key_grace_hours: int = Field(
        default=24,
        ge=0,
        le=168,
        alias="WEBHOOK_KEY_GRACE_HOURS",
        description="Hours a replaced webhook key still authenticates, unless the rotation says otherwise.",
    )
    device_token_key: SecretStr = Field(
        alias="DEVICE_TOKEN_KEY",
        description="AES-256 key(s), base64, comma-separated (first encrypts) for push tokens and payloads.",
    )
    devices_per_user: int = Field(
        default=10,
        ge=1,
        alias="DEVICES_PER_USER",
        description="How many push devices one Dynamics user may have registered at once.",
    )
    devices_per_org: int = Field(
        default=10_000,
        ge=1,
        alias="DEVICES_PER_ORG",
        description="How many push devices one Dynamics organisation may have registered at once.",
    )
    device_registrations_per_minute: int = Field(
        default=30,
        ge=1,
        alias="DEVICE_REGISTRATIONS_PER_MINUTE",
        description="How many device registrations one device key may make per minute.",
    )
    consent_token_keys: SecretStr = Field(
        alias="CONSENT_TOKEN_KEYS",
        description="Keys signing consent links, comma-separated (first signs, all verify).",
    )
    audit_mac_keys: SecretStr = Field(
        alias="AUDIT_MAC_KEYS",
        description="Keys MACing the audit chains, `kid=base64url` (32+ bytes), comma-separated: the "
        "first MACs new events, all verify (shared/audit/chain.py).",
    )
    subject_key_master: SecretStr = Field(
        alias="SUBJECT_KEY_MASTER",
        description="AES-256 key, base64url, wrapping the per-subject keys that seal audit events: "
        "version 1 of that master (empty once dropped; shared/audit/seal.py).",
    )
    subject_key_master_versions: SecretStr = Field(
        default=SecretStr(""),
        alias="SUBJECT_KEY_MASTER_VERSIONS",
        description='Later versions of SUBJECT_KEY_MASTER, JSON {"2": "<key>"}: the highest wraps new '
        "subject keys and the re-keying job moves older ones to it; every version unwraps.",
    )
    subprocessors: tuple[Subprocessor, ...] = Field(
        default=DEFAULT_SUBPROCESSORS,
        alias="TENANTRY_SUBPROCESSORS",
        description="JSON list of sub-processors (name, service, purpose, location, regions).",
    )
    alerts_loopback_ports: str = Field(
        default="",
        alias="ALERTS_LOOPBACK_PORTS",
        description="Local only: loopback ports (`8080,9000-9100`) alert receivers may use, over http "
        "too; empty in Azure, where receivers must be https on public addresses.",
    )
    email_connection_string: SecretStr = Field(
        default=SecretStr(""),
        alias="ACS_EMAIL_CONNECTION_STRING",
        description="Azure Communication Services (endpoint=...;accesskey=...) that alert e-mails go "
        "through: local only (the stand-in); Azure uses ACS_EMAIL_ENDPOINT and the identity. Both "
        "empty: no e-mail.",
    )
    email_endpoint: str = Field(
        default="",
        alias="ACS_EMAIL_ENDPOINT",
        description="Azure Communication Services endpoint (https://<name>.communication.azure.com) "
        "that alert e-mails go through with the managed identity (Azure); ignored when "
        "ACS_EMAIL_CONNECTION_STRING is set (local stand-in).",
    )
    email_sender: str = Field(
        default="",
        alias="ACS_EMAIL_SENDER",
        description="The sender address of alert e-mails, on the stamp's verified domain.",
    )
    email_ca_bundle: str | None = Field(
        default=None,
        alias="ACS_EMAIL_CA_BUNDLE",
        description="Local only: the CA of the ACS Email stand-in's TLS certificate.",
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

    @model_validator(mode="after")
    def _pepper_has_a_version(self) -> Settings:
        # API_KEY_PEPPER (version 1) is emptied once it is dropped; some version must still key
        # the hashes, or every API key, webhook key and lookup would fail (or use an empty key).
        from shared.keys import MasterKey

        try:
            MasterKey.from_settings(
                "pepper",
                self.api_key_pepper.get_secret_value(),
                self.api_key_pepper_versions.get_secret_value(),
            )
        except ValueError as wrong:  # json.JSONDecodeError is one
            raise ValueError(
                "API_KEY_PEPPER may be empty only when API_KEY_PEPPER_VERSIONS holds a version "
                f'(JSON {{"2": "<secret>"}}): {wrong}'
            ) from None
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
