"""Standard endpoints: setting catalogue, templates (built-in and own), runs over tenants, compliance,
saved assignments on a schedule, runs as long operations; the assignment timer and the run queue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import azure.functions as func
from pydantic import Field, StringConstraints

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Accepted, Call, Created, NoContent, RouteParams, Ulid, endpoint
from functions.queues import final_attempt, queue_function
from shared.access.principals import Scope
from shared.settings import get_settings
from shared.standards.models import (
    AssignmentIn,
    AssignmentList,
    AssignmentOut,
    CompliancePage,
    ComplianceQuery,
    RunIn,
    RunMessage,
    RunOperationOut,
    RunOut,
    SettingCatalogue,
    StandardIn,
    StandardList,
    StandardOut,
)

if TYPE_CHECKING:
    from shared.standards.service import StandardService

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger("tenantry.functions.standards")

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


# --- saved assignments and runs as long operations ----------------------------------------------

_ASSIGNMENTS = "partners/{partnerId}/standard-assignments"


class AssignmentRoute(RouteParams):
    missing = "No such standard assignment."
    assignment_id: Ulid = Field(alias="assignmentId")


class RunRoute(RouteParams):
    missing = "No such standard run."
    run_id: Ulid = Field(alias="runId")


def _run_location(context: PartnerContext, run: RunOperationOut) -> str:
    return f"/api/partners/{context.partner.id}/standard-runs/{run.id}"


@endpoint(
    bp,
    _ASSIGNMENTS,
    methods=["POST"],
    summary="Assign a standard (a pinned version or `latest`) to tenants and tenant groups in a mode, on a "
    "schedule: `daily` at an hour (UTC) or `afterSync` (each tenant after each successful sync). A scoped "
    "caller assigns only to its tenants.",
    tag="standards",
    auth=partner_access(Scope.WRITE),
    idempotent=True,
)
def create_assignment(call: Call, context: PartnerContext, body: AssignmentIn) -> Created[AssignmentOut]:
    created = deps.standard_assignments(context.partner).create_assignment(
        body, context.action, context.reach
    )
    return Created(created, f"/api/partners/{context.partner.id}/standard-assignments/{created.id}")


@endpoint(
    bp,
    _ASSIGNMENTS,
    methods=["GET"],
    summary="The partner's standard assignments (a scoped caller: those wholly within its tenants).",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def list_assignments(call: Call, context: PartnerContext) -> AssignmentList:
    return deps.standard_assignments(context.partner).list_assignments(context.reach)


@endpoint(
    bp,
    f"{_ASSIGNMENTS}/{{assignmentId}}",
    methods=["GET"],
    summary="One standard assignment, with its latest run.",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def get_assignment(call: Call, context: PartnerContext, route: AssignmentRoute) -> AssignmentOut:
    return deps.standard_assignments(context.partner).get_assignment(route.assignment_id, context.reach)


@endpoint(
    bp,
    f"{_ASSIGNMENTS}/{{assignmentId}}",
    methods=["PUT"],
    summary="Replace a standard assignment (standard, version, tenants, mode, schedule).",
    tag="standards",
    auth=partner_access(Scope.WRITE),
)
def put_assignment(
    call: Call, context: PartnerContext, body: AssignmentIn, route: AssignmentRoute
) -> AssignmentOut:
    return deps.standard_assignments(context.partner).update_assignment(
        route.assignment_id, body, context.action, context.reach
    )


@endpoint(
    bp,
    f"{_ASSIGNMENTS}/{{assignmentId}}",
    methods=["DELETE"],
    summary="Delete a standard assignment (its runs stay until they age out).",
    tag="standards",
    auth=partner_access(Scope.WRITE, allowed_when_read_only=True),
)
def delete_assignment(call: Call, context: PartnerContext, route: AssignmentRoute) -> NoContent:
    deps.standard_assignments(context.partner).delete_assignment(
        route.assignment_id, context.action, context.reach
    )
    return NoContent()


@endpoint(
    bp,
    f"{_ASSIGNMENTS}/{{assignmentId}}/runs",
    methods=["POST"],
    summary="Run an assignment now, over the caller's tenants: a long operation (202 + `Location` of its "
    "status, one line per tenant).",
    tag="standards",
    auth=partner_access(Scope.WRITE),
)
def run_assignment(call: Call, context: PartnerContext, route: AssignmentRoute) -> Accepted[RunOperationOut]:
    run = deps.standard_assignments(context.partner).run_now(
        route.assignment_id, context.action, context.reach
    )
    return Accepted(run, _run_location(context, run))


@endpoint(
    bp,
    "partners/{partnerId}/standard-runs/{runId}",
    methods=["GET"],
    summary="A standard run's status: queued, running, succeeded or failed, one line per tenant (pending, "
    "checked, remediated, planned, skipped); a scoped caller sees its tenants' lines.",
    tag="standards",
    auth=partner_access(Scope.READ),
)
def get_standard_run(call: Call, context: PartnerContext, route: RunRoute) -> RunOperationOut:
    return deps.standard_runs(context.partner).get(route.run_id, context.reach.allows)


@bp.timer_trigger(arg_name="timer", schedule="0 20 * * * *", run_on_startup=False)
def standard_assignment_timer(timer: func.TimerRequest) -> None:
    """Hourly: starts each daily assignment due and not yet run today (once per assignment and day)."""
    from shared.standards.assignments import start_due_assignments

    now = deps.clock().now()
    for region in deps.settings().regions:
        started = start_due_assignments(
            deps.storage().region(region), deps.partners().get, deps.standard_assignments, now
        )
        log.info("standard assignments started in %s: %d", region, started)


def _run_handler(region: str) -> None:
    from shared.standards.runs import RUN_QUEUE

    def run(msg: func.QueueMessage) -> None:
        message = RunMessage.model_validate_json(msg.get_body())
        partner = deps.partners().get(message.partner_id)
        final = final_attempt(msg)
        deps.standard_runs(partner).run(message.run_id, final_attempt=final)

    queue_function(bp, f"standard_run_{region}", RUN_QUEUE, region)(run)


for _region in get_settings().regions:
    _run_handler(_region)
