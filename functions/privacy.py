"""Privacy endpoints and timers: the record of processing, sub-processors, retention sweeps,
the breach register and data-subject requests. Thin: each calls one service in shared/privacy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import azure.functions as func
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions import deps
from functions.auth import (
    PartnerContext,
    operator_on_partner,
    operator_only,
    partner_access,
)
from functions.http import Accepted, Call, Created, NoContent, RouteParams, Ulid, endpoint
from functions.queues import final_attempt, queue_function
from shared.access.principals import Role, Scope
from shared.audit.context import ActionContext
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.models import ApiModel, QueryInput, UtcDateTime
from shared.notifications.orgs import Org
from shared.privacy import complaints, record
from shared.privacy import subject_requests as dsr
from shared.privacy.breaches import BreachIn, BreachList, BreachOut, BreachRegister, PartnerBreachList
from shared.privacy.retention import SweepBusyError, SweepReport
from shared.privacy.settings import PrivacySettings, PrivacySettingsIn
from shared.privacy.subject_requests import QUEUE as JOBS_QUEUE
from shared.privacy.subject_requests import (
    CancelIn,
    ControllerRequestIn,
    ExportLink,
    ExtendIn,
    JobMessage,
    PrivacyRequestService,
    ReasonIn,
    RequestIn,
    RequestList,
    RequestOut,
    RequestQuery,
    ResolveIn,
    VerifyIn,
)
from shared.privacy.subjects import ErasureCertificate
from shared.privacy.subprocessors import (
    ObjectionIn,
    PartnerProcessingRecord,
    PublicProcessingRecord,
    SubprocessorChangeIn,
    SubprocessorChangeOut,
)
from shared.privacy.transfers import TransferOut
from shared.settings import get_settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger("tenantry.privacy")


# --- what we process, and who helps (public: see README "Privacy") -----------------------------


@endpoint(
    bp,
    "privacy/processing-activities",
    methods=["GET"],
    summary="The record of processing activities (GDPR Art. 30), generated from the storage catalogue.",
    tag="privacy",
    auth=None,
)
def processing_activities(call: Call) -> PublicProcessingRecord:
    return deps.subprocessor_changes().public_record()


@endpoint(
    bp,
    "privacy/subprocessors",
    methods=["GET"],
    summary="Who processes data for Tenantry, per region.",
    tag="privacy",
    auth=None,
)
def subprocessors(call: Call) -> record.SubprocessorList:
    config = deps.settings()
    return record.subprocessors_by_region(config.regions, config.subprocessors)


# --- retention sweeps ---------------------------------------------------------------------------


class SweepQuery(QueryInput):
    # Strict on purpose: a misspelt `dryrun=true` must be refused, not run a real sweep.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    dry_run: bool = Field(default=False, description="Report what would go; delete nothing.")
    region: str | None = Field(default=None, max_length=16, description="One region; all when absent.")


class SweepOut(ApiModel):
    region: str
    run_id: str
    as_of: UtcDateTime
    dry_run: bool
    complete: bool
    counts: dict[str, int]
    run_counts: dict[str, int]
    rules: dict[str, int]
    samples: list[str]


class SweepList(ApiModel):
    items: list[SweepOut]


def _sweep_out(report: SweepReport) -> SweepOut:
    return SweepOut(
        region=report.region,
        run_id=report.run_id,
        as_of=report.as_of,
        dry_run=report.dry_run,
        complete=report.complete,
        counts=report.counts,
        run_counts=report.run_counts,
        rules=report.per_rule,
        samples=report.samples,
    )


@endpoint(
    bp,
    "privacy/sweeps",
    methods=["POST"],
    summary="Run the retention sweep now (or, with dryRun=true, report what it would delete).",
    tag="privacy",
    auth=operator_only,
)
def run_sweep(call: Call, query: SweepQuery) -> SweepList:
    regions = deps.settings().regions
    if query.region is not None:
        regions = (deps.storage().region(query.region).label,)
    sweeper = deps.retention_sweeper()
    try:
        return SweepList(items=[_sweep_out(sweeper.sweep(r, dry_run=query.dry_run)) for r in regions])
    except SweepBusyError as error:
        raise ProblemError(409, "sweep-running", "A sweep is running.", str(error)) from None


@bp.timer_trigger(schedule="%PRIVACY_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def retention_sweep(timer: func.TimerRequest) -> None:
    """Daily: each region in turn (in Azure a stamp serves one region, so one timer per region)."""
    sweeper = deps.retention_sweeper()
    for region in deps.settings().regions:
        try:
            report = sweeper.sweep(region)
        except SweepBusyError:
            log.warning("retention sweep %s: another invocation is running; skipped", region)
            continue
        log.info(
            "retention sweep %s run %s: complete=%s deleted=%s",
            region,
            report.run_id,
            report.complete,
            report.counts,
        )


# --- the partner's privacy settings -------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/privacy/settings",
    methods=["GET"],
    summary="The partner's privacy settings (how long administration records and notifications are kept).",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY, operator=True),
)
def get_privacy_settings(call: Call, context: PartnerContext) -> PrivacySettings:
    return deps.privacy_settings(context.account).get(context.partner.id)


@endpoint(
    bp,
    "partners/{partnerId}/privacy/settings",
    methods=["PUT"],
    summary="Change the privacy settings (administration records 7 or 10 years, notifications 30-365 days).",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY, every_tenant=True),
)
def put_privacy_settings(call: Call, context: PartnerContext, body: PrivacySettingsIn) -> PrivacySettings:
    return deps.privacy_settings(context.account).update(context.partner.id, body, context.action)


# --- the breach register ------------------------------------------------------------------------


def _register(region: str) -> BreachRegister:
    return deps.breach_register(region)


@endpoint(
    bp,
    "privacy/breaches",
    methods=["POST"],
    idempotent=True,
    summary="Record a personal-data breach; affected partners must be told within 72 hours.",
    tag="privacy",
    auth=operator_only,
)
def record_breach(operator: ActionContext, body: BreachIn) -> Created[BreachOut]:
    deps.storage().region(body.region)  # 422 for an unknown region
    breach = _register(body.region).record(body, operator)
    return Created(breach, f"/api/privacy/breaches/{breach.id}")


@endpoint(
    bp,
    "privacy/breaches",
    methods=["GET"],
    summary="The breach register, every region, with each deadline.",
    tag="privacy",
    auth=operator_only,
)
def list_breaches(call: Call) -> BreachList:
    return BreachList(items=[b for r in deps.settings().regions for b in _register(r).all()])


def _find_breach(breach_id: str) -> BreachRegister:
    for region in deps.settings().regions:
        register = _register(region)
        try:
            register.get(breach_id)
        except ProblemError:
            continue
        return register
    raise not_found("No such breach.")


class BreachRoute(RouteParams):
    missing = "No such breach."
    breach_id: Ulid = Field(alias="breachId")


@endpoint(
    bp,
    "privacy/breaches/{breachId}",
    methods=["GET"],
    summary="One breach of the register.",
    tag="privacy",
    auth=operator_only,
)
def get_breach(call: Call, route: BreachRoute) -> BreachOut:
    breach_id = route.breach_id
    return _find_breach(breach_id).get(breach_id)


@endpoint(
    bp,
    "privacy/breaches/{breachId}/partners-notified",
    methods=["POST"],
    summary="Record that the affected partners were told (closes the 72-hour deadline).",
    tag="privacy",
    auth=operator_only,
)
def breach_partners_notified(call: Call, operator: ActionContext, route: BreachRoute) -> BreachOut:
    breach_id = route.breach_id
    return _find_breach(breach_id).mark_notified(breach_id, operator)


@endpoint(
    bp,
    "partners/{partnerId}/privacy/breaches",
    methods=["GET"],
    summary="Personal-data breaches that affect this partner.",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY, operator=True),
)
def partner_breaches(call: Call, context: PartnerContext) -> PartnerBreachList:
    return PartnerBreachList(items=_register(context.partner.region).for_partner(context.partner.id))


@bp.timer_trigger(schedule="%PRIVACY_WATCH_SCHEDULE%", arg_name="timer", run_on_startup=False)
def privacy_deadline_watch(timer: func.TimerRequest) -> None:
    """Raises events as deadlines near and pass: breaches (72 h), data-subject requests (30 days)
    and complaints (4 weeks)."""
    for region in deps.settings().regions:
        for breach_id, action in _register(region).watch():
            log.warning("%s: breach %s in %s", action, breach_id, region)
        for partner_id, request_id, action in dsr.watch(deps.storage().region(region), deps.clock()):
            log.warning("%s: request %s of partner %s", action, request_id, partner_id)
        for partner_id, complaint_id, action in complaints.watch(deps.storage().region(region), deps.clock()):
            log.warning("%s: complaint %s of partner %s", action, complaint_id, partner_id)


# --- data-subject requests ----------------------------------------------------------------------

_REQUESTS = "partners/{partnerId}/privacy/requests"
# Every request endpoint is for the partner's privacy officers (or keys with the privacy scope).
privacy_officer_endpoint = partial(
    endpoint, bp, tag="privacy", auth=partner_access(Scope.PRIVACY, allowed_when_read_only=True)
)
_REQUEST = _REQUESTS + "/{requestId}"


class RequestRoute(RouteParams):
    missing = "No such data-subject request."
    request_id: Ulid = Field(alias="requestId")


def _org(context: PartnerContext, org_id: str) -> Org | None:
    try:
        org: Org = deps.orgs(context.partner.id, context.partner.region).get(org_id)
    except ProblemError as error:
        if error.status == 404:
            return None
        raise
    return org


def _may_see(context: PartnerContext) -> Callable[[RequestOut], bool]:
    """People and keys limited to some tenants see requests about those tenants, or about orgs that
    belong to them (an org's tenant as it is now; an org gone or without a tenant: unscoped callers only)."""
    reach = context.reach
    if reach.unlimited:
        return lambda request: True
    org_tenants: dict[str, str | None] = {}

    def tenant_of(request: RequestOut) -> str | None:
        if request.tenant_id is not None:
            return request.tenant_id
        org_id = request.org_id or ""
        if org_id not in org_tenants:
            org = _org(context, org_id) if org_id else None
            org_tenants[org_id] = org.tenant_id if org is not None else None
        return org_tenants[org_id]

    return lambda request: reach.allows(tenant_of(request))


def _requests(call: Call, context: PartnerContext) -> PrivacyRequestService:
    """The partner's requests; one about a tenant outside the caller's scope answers 404."""
    service = deps.privacy_requests(context.partner)
    request_id = call.route.get("requestId")
    if request_id is not None and not context.reach.unlimited:
        service.visible(request_id, _may_see(context))
    return service


def _request_location(partner_id: str, request_id: str) -> str:
    return f"/api/partners/{partner_id}/privacy/requests/{request_id}"


@privacy_officer_endpoint(
    _REQUESTS,
    methods=["POST"],
    idempotent=True,
    summary="File a data-subject request about a subject of one tenant or organisation (due in 30 days).",
)
def create_privacy_request(call: Call, context: PartnerContext, body: RequestIn) -> Created[RequestOut]:
    reach = context.reach
    org = _org(context, body.org_id) if body.org_id else None

    def scope_exists(tenant_id: str | None, org_id: str | None) -> bool:
        # Outside the caller's reach reads like missing: the same 422, nothing learnt.
        if tenant_id is None:
            return org is not None and reach.allows(org.tenant_id)
        try:
            return reach.allows(tenant_id) and bool(deps.tenants(context.partner).get(tenant_id))
        except ProblemError as error:
            if error.status == 404:
                return False
            raise

    org_tenant = org.tenant_id if org is not None else None
    service = deps.privacy_requests(context.partner, scope_exists)
    created = service.create(body, context.action, org_tenant_id=org_tenant)
    return Created(created, _request_location(context.partner.id, created.id))


@privacy_officer_endpoint(
    _REQUESTS,
    methods=["GET"],
    summary="The partner's data-subject requests, oldest first; filter by state and type.",
)
def list_privacy_requests(call: Call, context: PartnerContext, query: RequestQuery) -> RequestList:
    items, token = _requests(call, context).list_requests(query)
    may_see = _may_see(context)
    return RequestList(items=[r for r in items if may_see(r)], continuation_token=token)


@privacy_officer_endpoint(
    _REQUEST, methods=["GET"], summary="One data-subject request: state, deadline, verification, outcome."
)
def get_privacy_request(call: Call, context: PartnerContext, route: RequestRoute) -> RequestOut:
    return _requests(call, context).get(route.request_id)


@privacy_officer_endpoint(
    _REQUEST + "/verify",
    methods=["POST"],
    summary="Record who verified the subject's identity and how (received -> awaitingApproval).",
)
def verify_privacy_request(
    call: Call, context: PartnerContext, body: VerifyIn, route: RequestRoute
) -> RequestOut:
    return _requests(call, context).verify(route.request_id, body, context.action)


@privacy_officer_endpoint(
    _REQUEST + "/approve",
    methods=["POST"],
    summary="Approve a verified request (awaitingApproval -> approved); then execute it.",
)
def approve_privacy_request(call: Call, context: PartnerContext, route: RequestRoute) -> RequestOut:
    return _requests(call, context).approve(route.request_id, context.action)


@privacy_officer_endpoint(
    _REQUEST + "/reject",
    methods=["POST"],
    summary="Reject a request, with the reason the controller gives the subject.",
)
def reject_privacy_request(
    call: Call, context: PartnerContext, body: ReasonIn, route: RequestRoute
) -> RequestOut:
    return _requests(call, context).reject(route.request_id, body, context.action)


@privacy_officer_endpoint(
    _REQUEST + "/cancel",
    methods=["POST"],
    summary="Cancel a request (the subject withdrew it, or it was filed by mistake).",
)
def cancel_privacy_request(
    call: Call, context: PartnerContext, body: CancelIn, route: RequestRoute
) -> RequestOut:
    return _requests(call, context).cancel(route.request_id, body, context.action)


@privacy_officer_endpoint(
    _REQUEST + "/extend",
    methods=["POST"],
    summary="Extend the deadline once, by up to 60 days, with the reason told to the subject.",
)
def extend_privacy_request(
    call: Call, context: PartnerContext, body: ExtendIn, route: RequestRoute
) -> RequestOut:
    return _requests(call, context).extend(route.request_id, body, context.action)


@privacy_officer_endpoint(
    _REQUEST + "/execute",
    methods=["POST"],
    summary="Execute an approved request, or retry a failed one: 202, poll the request.",
)
def execute_privacy_request(call: Call, context: PartnerContext, route: RequestRoute) -> Accepted[RequestOut]:
    started = _requests(call, context).execute(route.request_id, context.action)
    return Accepted(started, _request_location(context.partner.id, started.id))


@privacy_officer_endpoint(
    _REQUEST + "/export",
    methods=["GET"],
    summary="A signed link (15 minutes) to the export package of a completed access/portability request.",
)
def privacy_request_export(call: Call, context: PartnerContext, route: RequestRoute) -> ExportLink:
    return _requests(call, context).export_link(route.request_id, context.action)


@privacy_officer_endpoint(
    _REQUEST + "/certificate",
    methods=["GET"],
    summary="The erasure certificate of a completed erasure request: deleted, kept (why, until), shredded.",
)
def privacy_request_certificate(
    call: Call, context: PartnerContext, route: RequestRoute
) -> ErasureCertificate:
    return _requests(call, context).certificate(route.request_id)


def _job_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        message = JobMessage.model_validate_json(msg.get_body())
        partner = deps.partners().get(message.partner_id)
        # On the last attempt a request is marked failed (retryable, deadline kept), not left in progress.
        final = final_attempt(msg)
        done = deps.privacy_requests(partner).run(message.request_id, final_attempt=final)
        log.info("privacy request %s: %s", done.id, done.state.value)

    queue_function(bp, f"privacy_jobs_{region}", JOBS_QUEUE, region)(run)


for _region in get_settings().regions:
    _job_handler(_region)


# --- controller and processor: forwarded requests, sub-processor changes, transfers ---------------


def _owner(context: PartnerContext) -> None:
    """Contractual choices of the partner (a transfer, an objection) are its owners' alone."""
    if context.access().grantor(context.caller, context.reach).role is not Role.OWNER:
        raise ProblemError(403, "owner-only", "Owners only.", "Only an owner of the partner may decide this.")


@endpoint(
    bp,
    "partners/{partnerId}/privacy/inbound-requests",
    methods=["POST"],
    idempotent=True,
    summary="Forward a data-subject request that reached Tenantry to the partner, which answers it.",
    tag="privacy",
    auth=operator_on_partner,
)
def forward_privacy_request(call: Call, context: PartnerContext, body: RequestIn) -> Created[RequestOut]:
    org = _org(context, body.org_id) if body.org_id else None

    def scope_exists(tenant_id: str | None, org_id: str | None) -> bool:
        if tenant_id is None:
            return org is not None
        try:
            return bool(deps.tenants(context.partner).get(tenant_id))
        except ProblemError as error:
            if error.status == 404:
                return False
            raise

    service = deps.privacy_requests(context.partner, scope_exists)
    forwarded = service.forward(body, context.action, org_tenant_id=org.tenant_id if org else None)
    return Created(forwarded, _request_location(context.partner.id, forwarded.id))


@endpoint(
    bp,
    "privacy/subprocessor-changes",
    methods=["POST"],
    idempotent=True,
    summary="Announce a sub-processor change (at least 30 days ahead); every affected partner is told.",
    tag="privacy",
    auth=operator_only,
)
def announce_subprocessor_change(
    operator: ActionContext, body: SubprocessorChangeIn
) -> Created[SubprocessorChangeOut]:
    for region in body.regions:
        deps.storage().region(region)  # 422 for an unknown region
    announced = deps.subprocessor_changes().announce(body, operator)
    return Created(announced, "/api/privacy/processing-activities")


class ChangeRoute(RouteParams):
    missing = "No such pending sub-processor change."
    change_id: Ulid = Field(alias="changeId")


@endpoint(
    bp,
    "partners/{partnerId}/privacy/subprocessor-changes/{changeId}/objection",
    methods=["POST"],
    summary="Object to an announced sub-processor change, within 30 days of its announcement (owners).",
    tag="privacy",
    auth=partner_access(Scope.MANAGE_ACCESS, every_tenant=True),
)
def object_to_subprocessor_change(
    call: Call, context: PartnerContext, body: ObjectionIn, route: ChangeRoute
) -> SubprocessorChangeOut:
    _owner(context)
    return deps.subprocessor_changes().object_to(
        context.account,
        context.partner.id,
        route.change_id,
        body,
        context.action,
        region=context.partner.region,
    )


@endpoint(
    bp,
    "partners/{partnerId}/privacy/processing-activities",
    methods=["GET"],
    summary="The record of processing as it stands for this partner: pending changes, objections, transfers.",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY, operator=True),
)
def partner_processing_activities(call: Call, context: PartnerContext) -> PartnerProcessingRecord:
    return deps.subprocessor_changes().partner_record(
        context.account, context.partner.id, context.partner.region
    )


@endpoint(
    bp,
    "partners/{partnerId}/privacy/transfers/firebase",
    methods=["PUT"],
    summary="Approve the transfer to Firebase (a global service) that push notifications need (owners).",
    tag="privacy",
    auth=partner_access(Scope.MANAGE_ACCESS, every_tenant=True),
)
def approve_firebase_transfer(call: Call, context: PartnerContext) -> TransferOut:
    _owner(context)
    return deps.transfer_approvals(context.partner.region).approve(context.partner.id, context.action)


@endpoint(
    bp,
    "partners/{partnerId}/privacy/transfers/firebase",
    methods=["DELETE"],
    summary="Withdraw the Firebase transfer approval (owners): pushes are refused again within 30 seconds.",
    tag="privacy",
    auth=partner_access(Scope.MANAGE_ACCESS, every_tenant=True),
)
def withdraw_firebase_transfer(call: Call, context: PartnerContext) -> NoContent:
    _owner(context)
    deps.transfer_approvals(context.partner.region).withdraw(context.partner.id, context.action)
    return NoContent()


# --- requests about data Tenantry holds as controller: the operator's own ---------------------------

_CONTROLLER = "privacy/controller-requests"
_CONTROLLER_ONE = _CONTROLLER + "/{requestId}"
operator_endpoint = partial(endpoint, bp, tag="privacy", auth=operator_only)


class ControllerQuery(RequestQuery):
    region: str | None = Field(default=None, max_length=16, description="The region; the first when absent.")


def _controller_region(body: ControllerRequestIn) -> str:
    """Kept where the partner's data is; a site contact's request in the first region."""
    if body.partner_id is None:
        return deps.settings().regions[0]
    region = deps.partners().directory.region_of(body.partner_id)
    if region is None:
        raise validation_failed([FieldError("partnerId", "no such partner")])
    return region


def _controller(request_id: str) -> PrivacyRequestService:
    for region in deps.settings().regions:
        service = deps.controller_requests(region)
        try:
            service.get(request_id)
        except ProblemError:
            continue
        return service
    raise not_found("No such data-subject request.")


@operator_endpoint(
    _CONTROLLER,
    methods=["POST"],
    idempotent=True,
    summary="File a request about data Tenantry holds as controller (partner people, contacts): 30 days.",
)
def create_controller_request(operator: ActionContext, body: ControllerRequestIn) -> Created[RequestOut]:
    created = deps.controller_requests(_controller_region(body)).create_controller(body, operator)
    return Created(created, f"/api/{_CONTROLLER}/{created.id}")


@operator_endpoint(_CONTROLLER, methods=["GET"], summary="Controller requests of one region, oldest first.")
def list_controller_requests(call: Call, query: ControllerQuery) -> RequestList:
    region = deps.storage().region(query.region).label if query.region else deps.settings().regions[0]
    items, token = deps.controller_requests(region).list_requests(query)
    return RequestList(items=items, continuation_token=token)


@operator_endpoint(
    _CONTROLLER_ONE, methods=["GET"], summary="One controller request: state, deadline, outcome."
)
def get_controller_request(call: Call, route: RequestRoute) -> RequestOut:
    return _controller(route.request_id).get(route.request_id)


@operator_endpoint(
    _CONTROLLER_ONE + "/verify", methods=["POST"], summary="Record how the subject's identity was verified."
)
def verify_controller_request(operator: ActionContext, body: VerifyIn, route: RequestRoute) -> RequestOut:
    return _controller(route.request_id).verify(route.request_id, body, operator)


@operator_endpoint(_CONTROLLER_ONE + "/approve", methods=["POST"], summary="Approve a verified request.")
def approve_controller_request(operator: ActionContext, route: RequestRoute) -> RequestOut:
    return _controller(route.request_id).approve(route.request_id, operator)


@operator_endpoint(
    _CONTROLLER_ONE + "/reject", methods=["POST"], summary="Reject a request, with the reason."
)
def reject_controller_request(operator: ActionContext, body: ReasonIn, route: RequestRoute) -> RequestOut:
    return _controller(route.request_id).reject(route.request_id, body, operator)


@operator_endpoint(
    _CONTROLLER_ONE + "/extend", methods=["POST"], summary="Extend the deadline once (60 days)."
)
def extend_controller_request(operator: ActionContext, body: ExtendIn, route: RequestRoute) -> RequestOut:
    return _controller(route.request_id).extend(route.request_id, body, operator)


@operator_endpoint(
    _CONTROLLER_ONE + "/resolve",
    methods=["POST"],
    summary="Record what the operator did for an approved request (approved -> completed).",
)
def resolve_controller_request(operator: ActionContext, body: ResolveIn, route: RequestRoute) -> RequestOut:
    return _controller(route.request_id).resolve(route.request_id, body, operator)
