"""API models of the standards area: templates, runs and compliance rows (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.models import ApiInput, ApiModel, PageQuery, UtcDateTime

Mode = Literal["report", "alert", "remediate"]
SettingState = Literal["pass", "fail", "notAvailable"]
SettingValue = bool | int | str
StandardName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
SettingId = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z.]+$")]
TenantIdText = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SettingIn(ApiInput):
    id: SettingId = Field(description="A setting of the catalogue (GET .../standards/settings).")
    value: SettingValue = Field(description="The desired value; its type is the setting's.")


class StandardIn(ApiInput):
    name: StandardName
    description: str = Field(default="", max_length=1000)
    settings: list[SettingIn] = Field(min_length=1, max_length=50)


class SettingOut(ApiModel):
    id: str
    title: str
    value: SettingValue
    remediable: bool = Field(description="Whether `remediate` mode can set it through Graph.")


class StandardOut(ApiModel):
    id: str
    name: str
    description: str
    version: int = Field(description="1 when created; each edit makes the next version.")
    built_in: bool = Field(description="Shipped by Tenantry: read-only, every partner sees it.")
    modes: list[Mode] = Field(description="The modes it may be applied in.")
    settings: list[SettingOut]
    updated_at: UtcDateTime | None = None


class StandardList(ApiModel):
    items: list[StandardOut]


class CatalogueSetting(ApiModel):
    id: str
    title: str
    type: Literal["boolean", "integer", "string"]
    allowed: list[SettingValue] | None = Field(default=None, description="The values it takes, when few.")
    remediable: bool


class SettingCatalogue(ApiModel):
    items: list[CatalogueSetting]


class RunIn(ApiInput):
    """Which tenants (ids, tenant groups), in which mode; `dryRun` plans remediation, changes nothing."""

    tenant_ids: list[TenantIdText] = Field(default_factory=list, max_length=100)
    tenant_groups: list[GroupName] = Field(default_factory=list, max_length=20)
    mode: Mode
    dry_run: bool = False


class Change(ApiModel):
    target: str = Field(description="What in the tenant changes (a policy, a domain).")
    before: SettingValue | None
    after: SettingValue


class SettingResult(ApiModel):
    id: str
    title: str
    state: SettingState
    desired: SettingValue
    current: SettingValue | dict[str, int | None] | None
    detail: str
    changes: list[Change] = Field(
        default_factory=list, description="Remediation: what was changed (or, on a dry run, would be)."
    )


class TenantRun(ApiModel):
    tenant_id: str
    outcome: Literal["checked", "remediated", "planned", "skipped"]
    reason: str | None = Field(default=None, description="Why a tenant was skipped.")
    passed: int = 0
    failed: int = 0
    settings: list[SettingResult] = Field(default_factory=list)


class RunOut(ApiModel):
    standard_id: str
    version: int
    mode: Mode
    dry_run: bool
    checked_at: UtcDateTime
    tenants: list[TenantRun]


class ComplianceQuery(PageQuery):
    tenant_id: TenantIdText | None = Field(default=None, description="Only this tenant.")
    standard_id: str | None = Field(default=None, max_length=64, description="Only this standard.")


class ComplianceRow(ApiModel):
    tenant_id: str
    standard_id: str
    version: int
    mode: Mode
    compliant: bool
    passed: int
    failed: int
    not_available: int
    failing: list[str] = Field(description="Ids of the settings that differ.")
    checked_at: UtcDateTime


class CompliancePage(ApiModel):
    items: list[ComplianceRow]
    continuation_token: str | None = None


# --- saved assignments and runs as long operations ---------------------------------------------

StandardIdText = Annotated[
    str, StringConstraints(pattern=r"^([0-9A-HJKMNP-TV-Z]{26}|tenantry-[a-z]+(-[a-z]+)*)$")
]
Schedule = Literal["daily", "afterSync"]
RunState = Literal["queued", "running", "succeeded", "failed"]
RunTrigger = Literal["manual", "schedule", "afterSync"]
TenantProgressState = Literal["pending", "checked", "remediated", "planned", "skipped"]


class AssignmentIn(ApiInput):
    """A standard applied on a schedule to tenants and tenant groups (groups resolved at each run)."""

    standard_id: StandardIdText
    version: int | Literal["latest"] = Field(
        default="latest", description="A version to pin (own standards), or `latest` at each run."
    )
    tenant_ids: list[TenantIdText] = Field(default_factory=list, max_length=500)
    tenant_groups: list[GroupName] = Field(default_factory=list, max_length=20)
    mode: Mode
    schedule: Schedule = Field(
        description="`daily`: once a day at `hourUtc` (a missed hour runs at the next timer that day); "
        "`afterSync`: each named tenant after each of its successful syncs."
    )
    hour_utc: int = Field(default=6, ge=0, le=23, description="The hour (UTC) a daily assignment runs.")
    dry_run: bool = Field(default=False, description="`remediate` mode plans only, changes nothing.")


class AssignmentOut(ApiModel):
    id: str
    standard_id: str
    version: int | Literal["latest"]
    tenant_ids: list[str]
    tenant_groups: list[str]
    mode: Mode
    schedule: Schedule
    hour_utc: int
    dry_run: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime
    last_run_id: str | None = Field(default=None, description="The status resource of its latest run.")
    last_run_at: UtcDateTime | None = None


class AssignmentList(ApiModel):
    items: list[AssignmentOut]


class TenantProgress(ApiModel):
    tenant_id: str
    state: TenantProgressState = Field(description="pending: not reached yet; otherwise as a run's outcome.")
    reason: str | None = Field(default=None, description="Why the tenant was skipped.")
    passed: int = 0
    failed: int = 0
    failing: list[str] = Field(default_factory=list, description="Ids of the settings that differ.")
    finished_at: UtcDateTime | None = None


class RunOperationOut(ApiModel):
    """A run over many tenants as a long operation: one line per tenant, resumed after a crash."""

    id: str
    standard_id: str
    version: int
    mode: Mode
    dry_run: bool
    trigger: RunTrigger
    assignment_id: str | None = None
    state: RunState
    created_at: UtcDateTime
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None
    attempts: int = 0
    total: int = Field(description="Tenants in the run (those the caller sees, for a scoped caller).")
    completed: int = Field(description="Tenants done so far.")
    error: str | None = None
    tenants: list[TenantProgress]


class RunMessage(ApiModel):
    """The queue message: ids only."""

    partner_id: str
    run_id: str
