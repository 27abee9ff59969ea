"""Standard endpoints: setting catalogue, templates (built-in and own), runs over tenants, compliance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import azure.functions as func
from pydantic import Field, StringConstraints

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Call, Created, NoContent, RouteParams, endpoint
from shared.access.principals import Scope
from shared.standards.models import (
    CompliancePage,
    ComplianceQuery,
    RunIn,
    RunOut,
    SettingCatalogue,
    StandardIn,
    StandardList,
    StandardOut,
)

if TYPE_CHECKING:
    from shared.standards.service import StandardService

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_STANDARDS = "partners/{partnerId}/standards"


class StandardRoute(RouteParams):
    """`.../standards/{standardId}`: a built-in (`tenantry-...`) or one of the partner's (a ULID)."""

    missing = "No such standard."
    standard_id: Annotated[
        str, StringConstraints(pattern=r"^([0-9A-HJKMNP-TV-Z]{26}|tenantry-[a-z]+(-[a-z]+)*)$")
    ] = Field(alias="standardId")


def _service(context: PartnerContext) -> StandardService:
    return deps.standards(context.partner)


@endpoint(
    bp,
    "partners/{partnerId}/standard-settings",
    methods=["GET"],
    summary="The settings a standard may name, their types and allowed values.",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def list_standard_settings(call: Call, context: PartnerContext) -> SettingCatalogue:
    return _service(context).list_settings()


@endpoint(
    bp,
    _STANDARDS,
    methods=["GET"],
    summary="Standards: those Tenantry ships and the partner's own (their current versions).",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def list_standards(call: Call, context: PartnerContext) -> StandardList:
    return _service(context).list_standards()


@endpoint(
    bp,
    _STANDARDS,
    methods=["POST"],
    summary="Create a standard (version 1) from settings of the catalogue.",
    tag="standards",
    auth=partner_access(Scope.WRITE, every_tenant=True),
)
def create_standard(call: Call, context: PartnerContext, body: StandardIn) -> Created[StandardOut]:
    standard = _service(context).create_standard(body, context.action)
    return Created(standard, f"/api/partners/{context.partner.id}/standards/{standard.id}")


@endpoint(
    bp,
    f"{_STANDARDS}/{{standardId}}",
    methods=["GET"],
    summary="One standard, its current version.",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def get_standard(call: Call, context: PartnerContext, route: StandardRoute) -> StandardOut:
    return _service(context).get_standard(route.standard_id)


@endpoint(
    bp,
    f"{_STANDARDS}/{{standardId}}",
    methods=["PUT"],
    summary="Replace a standard's settings: the next version (built-in standards cannot change).",
    tag="standards",
    auth=partner_access(Scope.WRITE, every_tenant=True),
)
def put_standard(call: Call, context: PartnerContext, body: StandardIn, route: StandardRoute) -> StandardOut:
    return _service(context).update_standard(route.standard_id, body, context.action)


@endpoint(
    bp,
    f"{_STANDARDS}/{{standardId}}",
    methods=["DELETE"],
    summary="Delete one of the partner's standards (its versions stay for the compliance rows naming them).",
    tag="standards",
    auth=partner_access(Scope.WRITE, allowed_when_read_only=True, every_tenant=True),
)
def delete_standard(call: Call, context: PartnerContext, route: StandardRoute) -> NoContent:
    _service(context).delete_standard(route.standard_id, context.action)
    return NoContent()


@endpoint(
    bp,
    f"{_STANDARDS}/{{standardId}}/runs",
    methods=["POST"],
    summary="Apply a standard to tenants and tenant groups: `report` (what differs), `alert` (differences "
    "raise alerts), `remediate` (set through Graph, audited, re-checked; `dryRun` plans only). A tenant "
    "whose access is not proven is skipped; a read-only subscription remediates nothing.",
    tag="standards",
    auth=partner_access(Scope.WRITE),
)
def run_standard(call: Call, context: PartnerContext, body: RunIn, route: StandardRoute) -> RunOut:
    reach = context.reach
    access = context.access()
    return _service(context).run(
        route.standard_id,
        body,
        context.action,
        visible=reach.allows,
        group_members=lambda name: access.get_group(name, reach).tenant_ids,
    )


@endpoint(
    bp,
    "partners/{partnerId}/compliance",
    methods=["GET"],
    summary="Compliance per tenant and standard, as found by each tenant's last run (paged, across the "
    "caller's tenants; filter by tenant or standard).",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def list_compliance(call: Call, context: PartnerContext, query: ComplianceQuery) -> CompliancePage:
    return _service(context).list_compliance(query, context.reach.allows)
