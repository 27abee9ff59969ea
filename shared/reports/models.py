"""API models of reports and end-user search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shared.models import CONTINUATION_TOKEN, ApiModel, PageQuery, QueryInput
from shared.reports.kinds import KINDS

_GUID = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
ReportStatus = Literal[
    "registered",
    "notRegistered",
    "active",
    "inactive",
    "neverSignedIn",
    "ok",
    "unassigned",
    "overAssigned",
    "globalAdministrator",
    "otherRole",
    "low",
    "medium",
    "high",
    "enabled",
    "disabled",
    "licenceMissing",
    "notAvailable",
]
assert set(ReportStatus.__args__) == {s for info in KINDS.values() for s in info.statuses}  # type: ignore[attr-defined]


class ReportQuery(PageQuery):
    tenant_id: _GUID | None = Field(default=None, description="Only this tenant.")
    tenant_group: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Only the tenants of this tenant group."
    )
    status: ReportStatus | None = Field(
        default=None,
        description="Only rows with this status (each report's statuses are in its summary; another "
        "report's status matches no row).",
    )


class TenantReportQuery(PageQuery):
    status: ReportStatus | None = Field(default=None, description="Only rows with this status.")


class ReportRowOut(ApiModel):
    """One row of a report: about one end user, one SKU, one role holder, or the tenant itself."""

    kind: str
    tenant_id: str
    item: str = Field(
        description="What the row is about: a user id, a SKU id, user~role, `latest`, or `!tenant`."
    )
    status: str
    synced_at: str = Field(description="When the sync that last changed this row ran (ISO 8601 UTC).")
    tenant_synced_at: str | None = Field(
        default=None, description="When this report was last synced for the row's tenant (the row held then)."
    )
    user_id: str | None = None
    user_principal_name: str | None = None
    display_name: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ReportPage(ApiModel):
    items: list[ReportRowOut]
    continuation_token: str | None = None
    rows_read: int = Field(description="Table rows read to answer this page (bounded by the page size).")


class UserSearchQuery(QueryInput):
    prefix: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="The start of a UPN, e-mail address or display name (case-insensitive)."
    )
    top: int = Field(default=50, ge=1, le=200)
    continuation_token: str | None = Field(default=None, max_length=4096, description=CONTINUATION_TOKEN)


class UserSearchHit(ApiModel):
    tenant_id: str
    user_id: str
    display_name: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None
    user_type: str | None = None
    account_enabled: bool | None = None
    matched: Literal["userPrincipalName", "mail", "displayName"]
    synced_at: str = Field(description="When the sync that last changed what this hit shows ran.")


class UserSearchPage(ApiModel):
    items: list[UserSearchHit]
    continuation_token: str | None = None
    rows_read: int
