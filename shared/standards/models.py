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
