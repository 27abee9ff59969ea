"""Report endpoints (one tenant and across the caller's tenants, JSON and CSV) and end-user search."""

from __future__ import annotations

from typing import Annotated

import azure.functions as func
from pydantic import Field, StringConstraints

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Call, Guid, RouteParams, endpoint
from shared.access.principals import Scope
from shared.errors import not_found
from shared.reports.kinds import KINDS, ReportKind
from shared.reports.models import ReportPage, ReportQuery, TenantReportQuery, UserSearchPage, UserSearchQuery

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_KIND_PATTERN = "^(" + "|".join(k.value for k in ReportKind) + ")$"
_KINDS_TEXT = "; ".join(
    f"`{k.value}`: {info.title} (statuses {', '.join(info.statuses)})" for k, info in KINDS.items()
)


class ReportRoute(RouteParams):
    missing = "No such report."
    kind: Annotated[str, StringConstraints(pattern=_KIND_PATTERN)] = Field(alias="kind")


class TenantReportRoute(RouteParams):
    missing = "No such report."
    missing_by_name = {"tenantId": "No such tenant."}
    tenant_id: Guid = Field(alias="tenantId")
    kind: Annotated[str, StringConstraints(pattern=_KIND_PATTERN)] = Field(alias="kind")


def _tenant_visible(context: PartnerContext, tenant_id: str) -> None:
    # A tenant outside the caller's scope answers as a missing one does.
    if not context.reach.allows(tenant_id):
        raise not_found("No such tenant.")


def _csv(text: str, token: str | None) -> func.HttpResponse:
    headers = {"Content-Disposition": "attachment; filename=report.csv"}
    if token:
        headers["x-continuation-token"] = token
    return func.HttpResponse(text, mimetype="text/csv", charset="utf-8", headers=headers)


@endpoint(
    bp,
    "partners/{partnerId}/reports/{kind}",
    methods=["GET"],
    summary="A report across the caller's tenants, as kept at each tenant's last sync (filter by tenant, "
    f"tenant group, status; paged). Reports: {_KINDS_TEXT}.",
    tag="reports",
    auth=partner_access(Scope.READ),
)
def list_report(call: Call, context: PartnerContext, query: ReportQuery, route: ReportRoute) -> ReportPage:
    return deps.reports(context.partner).list_rows(
        ReportKind(route.kind), query, context.reach, lambda: context.access().list_group_members()
    )


@endpoint(
    bp,
    "partners/{partnerId}/reports/{kind}/export",
    methods=["GET"],
    summary="The same page of a report across the caller's tenants as CSV; the next page's token is in "
    "the `x-continuation-token` header.",
    tag="reports",
    auth=partner_access(Scope.READ),
    media_type="text/csv",
)
def export_report(
    call: Call, context: PartnerContext, query: ReportQuery, route: ReportRoute
) -> func.HttpResponse:
    text, token = deps.reports(context.partner).export_csv(
        ReportKind(route.kind), query, context.reach, lambda: context.access().list_group_members()
    )
    return _csv(text, token)


@endpoint(
    bp,
    "partners/{partnerId}/tenants/{tenantId}/reports/{kind}",
    methods=["GET"],
    summary="A report of one tenant, as kept at its last sync (filter by status; paged).",
    tag="reports",
    auth=partner_access(Scope.READ),
)
def list_tenant_report(
    call: Call, context: PartnerContext, query: TenantReportQuery, route: TenantReportRoute
) -> ReportPage:
    _tenant_visible(context, route.tenant_id)
    return deps.reports(context.partner).list_tenant_rows(
        ReportKind(route.kind), query, context.reach, tenant_id=route.tenant_id
    )


@endpoint(
    bp,
    "partners/{partnerId}/tenants/{tenantId}/reports/{kind}/export",
    methods=["GET"],
    summary="A page of one tenant's report as CSV; the next page's token is in `x-continuation-token`.",
    tag="reports",
    auth=partner_access(Scope.READ),
    media_type="text/csv",
)
def export_tenant_report(
    call: Call, context: PartnerContext, query: TenantReportQuery, route: TenantReportRoute
) -> func.HttpResponse:
    _tenant_visible(context, route.tenant_id)
    text, token = deps.reports(context.partner).export_tenant_csv(
        ReportKind(route.kind), query, context.reach, tenant_id=route.tenant_id
    )
    return _csv(text, token)


@endpoint(
    bp,
    "partners/{partnerId}/end-users/search",
    methods=["GET"],
    summary="Find end users by the start of their UPN, e-mail address or display name, across the caller's "
    "tenants (as kept at each tenant's last sync).",
    tag="reports",
    auth=partner_access(Scope.READ),
)
def search_end_users(call: Call, context: PartnerContext, query: UserSearchQuery) -> UserSearchPage:
    return deps.reports(context.partner).search_users(query, context.reach)
