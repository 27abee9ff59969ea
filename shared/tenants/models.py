"""API models of the tenants area: tenants, syncs, users, groups, baselines (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from shared.models import ApiInput, ApiModel, PageQuery, QueryInput, UtcDateTime

TenantStatus = Literal["active", "deleting"]
SyncState = Literal["queued", "running", "succeeded", "failed"]
AccessState = Literal["pendingProof", "proven", "accessLost"]
ProofVia = Literal["gdap", "consent"]
CheckState = Literal["pass", "fail", "notAvailable", "off"]

_DISPLAY_NAME = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
_GUID = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]


class TenantIn(ApiInput):
    tenant_id: UUID = Field(description="The customer's Entra tenant id (GUID).")
    display_name: _DISPLAY_NAME


class SyncSummary(ApiModel):
    id: str
    state: SyncState
    finished_at: UtcDateTime | None = None


class TenantCounts(ApiModel):
    users: int = 0
    groups: int = 0


class TenantAccess(ApiModel):
    """Whether Tenantry may reach the tenant in Graph for this partner, and on what proof."""

    state: AccessState = Field(
        description="pendingProof: never read or written until proven; proven: synced and managed; "
        "accessLost: the proof no longer holds (relationship ended, consent revoked, tenant moved)."
    )
    via: ProofVia | None = Field(
        default=None, description="gdap: a GDAP relationship; consent: admin consent."
    )
    since: UtcDateTime = Field(description="When the tenant entered this state.")
    expires_at: UtcDateTime | None = Field(default=None, description="The GDAP relationship's end date.")
    reason: str | None = Field(default=None, description="Why the tenant is pending or lost access.")
    relationship_id: str | None = Field(default=None, description="The GDAP relationship that proves it.")
    roles: list[str] = Field(
        default_factory=list, description="Role template ids the GDAP relationship grants."
    )


class TenantOut(ApiModel):
    id: str
    display_name: str
    status: TenantStatus
    created_at: UtcDateTime
    access: TenantAccess
    last_sync: SyncSummary | None = None
    last_successful_sync_at: UtcDateTime | None = None
    counts: TenantCounts = Field(default_factory=TenantCounts)
    last_error: str | None = None


class SignInLink(ApiModel):
    """A link for an administrator to open; it works once, until `expiresAt`."""

    url: str
    expires_at: UtcDateTime


class EntraConnection(ApiModel):
    """The partner's own Entra tenant, where Tenantry's app is consented (needed for GDAP proofs)."""

    tenant_id: str
    connected: bool
    connected_at: UtcDateTime | None = None
    connected_by: str | None = Field(
        default=None, description="Object id of the administrator who consented."
    )


class SignInResult(ApiModel):
    """What an administrator's sign-in proved."""

    tenant_id: str
    purpose: Literal["partnerTenant", "customerTenant"]
    access: TenantAccess | None = None
    connection: EntraConnection | None = None


# Codes and states are URL-safe tokens (base64url and JWT alphabets); anything else is not ours.
_URL_SAFE = r"^[A-Za-z0-9._~\-]+$"
_URL_SAFE_2K = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=_URL_SAFE)]


class AdminConsentCallbackQuery(ApiInput):
    """What the identity platform sends back to the redirect URI (OpenID Connect, response_mode=query)."""

    # session_state and whatever else the platform adds are not ours to refuse.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    state: _URL_SAFE_2K | None = None
    code: Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=_URL_SAFE)] | None = None
    error: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z_]+$")] | None = None
    error_description: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, alias="error_description"
    )


class TenantList(ApiModel):
    items: list[TenantOut]
    continuation_token: str | None = None


class SyncError(ApiModel):
    code: str
    message: str


class SyncCounts(ApiModel):
    users: int = 0
    groups: int = 0
    users_upserted: int = 0
    users_removed: int = 0
    groups_upserted: int = 0
    groups_removed: int = 0
    pages: int = 0
    storage_writes: int = 0
    drift_events: int = 0


class SyncOut(ApiModel):
    id: str
    tenant_id: str
    state: SyncState
    trigger: Literal["manual", "schedule", "onboarding"]
    full: bool | None = None
    attempts: int = 0
    counts: SyncCounts = Field(default_factory=SyncCounts)
    queued_at: UtcDateTime
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None
    duration_ms: int | None = None
    error: SyncError | None = None


class SyncList(ApiModel):
    items: list[SyncOut]
    continuation_token: str | None = None


class LicenceOut(ApiModel):
    sku_id: str
    disabled_plans: list[str] = Field(default_factory=list)


class UserOut(ApiModel):
    id: str
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None
    account_enabled: bool | None = None
    usage_location: str | None = None
    job_title: str | None = None
    department: str | None = None
    user_type: str | None = None
    assigned_licenses: list[LicenceOut] = Field(default_factory=list)


class UserList(ApiModel):
    items: list[UserOut]
    continuation_token: str | None = None


class UserQuery(PageQuery):
    search: str | None = Field(
        default=None, max_length=256, description="Text in display name, UPN or mail (case-insensitive)."
    )
    enabled: bool | None = None
    licence: _GUID | None = Field(default=None, description="Only users holding this SKU id.")


class PasswordResetOut(ApiModel):
    """Shown once: Tenantry keeps the password nowhere (not in a table, a log or the audit event)."""

    user_id: str
    temporary_password: str = Field(description="One-time password; the user must change it at next sign-in.")
    force_change_password_next_sign_in: bool = True


class SessionsRevokedOut(ApiModel):
    user_id: str
    revoked_at: UtcDateTime = Field(
        description="Refresh tokens and session cookies issued before this are invalid."
    )


class RemovedMethod(ApiModel):
    id: str
    type: str = Field(
        description="Graph's @odata.type of the method, e.g. #microsoft.graph.phoneAuthenticationMethod."
    )


class MfaResetOut(ApiModel):
    user_id: str
    removed: list[RemovedMethod] = Field(
        description="Methods deleted; empty when none were left (idempotent)."
    )


class UserPatch(ApiInput):
    account_enabled: bool | None = None
    usage_location: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    display_name: _DISPLAY_NAME | None = None


class LicenceAdd(ApiInput):
    sku_id: _GUID
    disabled_plans: list[_GUID] = Field(default_factory=list, max_length=100)


class LicenceChangeIn(ApiInput):
    add: list[LicenceAdd] = Field(default_factory=list, max_length=50)
    remove: list[_GUID] = Field(default_factory=list, max_length=50)


class GroupOut(ApiModel):
    id: str
    display_name: str | None = None
    description: str | None = None
    mail: str | None = None
    mail_enabled: bool | None = None
    security_enabled: bool | None = None
    group_types: list[str] = Field(default_factory=list)
    member_count: int = 0
    members: list[str] | None = None  # only on the single-group read


class GroupList(ApiModel):
    items: list[GroupOut]
    continuation_token: str | None = None


class MemberIn(ApiInput):
    user_id: _GUID


class SecurityDefaultsIn(ApiInput):
    enabled: bool


class SecurityDefaultsOut(ApiModel):
    enabled: bool


class ConfigurationOut(ApiModel):
    """The latest configuration snapshot (everything but the user list), as Graph reported it."""

    sync_id: str
    taken_at: UtcDateTime
    configuration: dict[str, Any]


class SnapshotOut(ApiModel):
    """One stored configuration snapshot; `comparedByDrift`: a drift event compares it, so it stays
    as long as that event (otherwise only the latest 10 stay)."""

    sync_id: str
    taken_at: UtcDateTime | None = None
    compared_by_drift: bool


class SnapshotList(ApiModel):
    items: list[SnapshotOut]


class SnapshotChangesQuery(QueryInput):
    since: str | None = Field(
        default=None,
        pattern=r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$",
        description="The sync id of the earlier snapshot (default: the one before this).",
    )


class SettingChange(ApiModel):
    setting: str
    summary: str
    before: Any = None
    after: Any = None


class SnapshotChanges(ApiModel):
    """What changed in the configuration from one snapshot (`since`) to another (`syncId`)."""

    sync_id: str
    since: str | None
    changes: list[SettingChange]


class CheckResult(ApiModel):
    id: str
    title: str
    state: CheckState
    detail: str
    value: Any = None


class BaselineOut(ApiModel):
    tenant_id: str
    evaluated_at: UtcDateTime | None = None
    sync_id: str | None = None
    passed: int = 0
    failed: int = 0
    checks: list[CheckResult] = Field(default_factory=list)


class BaselineList(ApiModel):
    items: list[BaselineOut]
    continuation_token: str | None = None


CHECK_IDS = (
    "mfaEnforced",
    "globalAdminCount",
    "licencesOnDisabledAccounts",
    "unusedLicences",
    "inactiveAccounts",
)
CheckId = Literal[
    "mfaEnforced", "globalAdminCount", "licencesOnDisabledAccounts", "unusedLicences", "inactiveAccounts"
]


class BaselineSettings(ApiModel):
    """Which checks a partner runs, and its bounds (defaults follow Microsoft's own guidance)."""

    disabled_checks: list[CheckId] = Field(default_factory=list)
    min_global_admins: int = Field(default=2, ge=0, le=100)
    max_global_admins: int = Field(default=4, ge=1, le=100)
    max_unused_licences: int = Field(default=5, ge=0, le=1_000_000)


class BaselineSettingsIn(ApiInput):
    disabled_checks: list[CheckId] = Field(default_factory=list)
    min_global_admins: int = Field(default=2, ge=0, le=100)
    max_global_admins: int = Field(default=4, ge=1, le=100)
    max_unused_licences: int = Field(default=5, ge=0, le=1_000_000)


class TenantPageQuery(PageQuery):
    pass


QUEUE = "tenantsync"  # one per region, in the region's account


class SyncMessage(ApiModel):
    """The queue message: ids only."""

    partner_id: str
    tenant_id: str
    sync_id: str
