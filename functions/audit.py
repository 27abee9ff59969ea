"""Audit-log and usage endpoints of a partner."""

from __future__ import annotations

import logging
import re
from typing import Annotated

import azure.functions as func
from pydantic import AwareDatetime, Field, StringConstraints, field_validator
from pydantic.config import JsonDict

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Accepted, Call, RouteParams, endpoint
from functions.queues import queue_function
from shared.access.principals import Scope
from shared.access.reach import ALL_TENANTS
from shared.audit.anchors import anchor_region
from shared.audit.log import AuditLog, EventFilter, ScopedView
from shared.audit.verifications import ID_PATTERN as VERIFICATION_ID
from shared.audit.verifications import QUEUE as VERIFY_QUEUE
from shared.audit.verifications import VerificationMessage, VerificationOut, VerificationService
from shared.billing.invoices import partner_ids_in
from shared.errors import ProblemError, forbidden
from shared.models import ApiModel, PageQuery, QueryInput
from shared.settings import get_settings
from shared.usage import month_of

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger("tenantry.audit")


class EventQuery(PageQuery):
    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None
    actor: Annotated[str, StringConstraints(max_length=64)] | None = None
    action: Annotated[str, StringConstraints(max_length=100)] | None = None
    target: Annotated[str, StringConstraints(max_length=200)] | None = None
    tenant_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, alias="tenantId", description="Only events about this customer tenant."
    )


class EventOut(ApiModel):
    id: str
    at: str
    action: str
    actor: dict[str, str]
    target: dict[str, str]
    changes: dict[str, dict[str, object]]
    request_id: str | None
    client_ip: str | None
    details: dict[str, object]
    tenant_id: str | None = Field(default=None, description="The customer tenant the event is about.")
    hash: str


class EventList(ApiModel):
    items: list[EventOut]
    continuation_token: str | None


class VerifyOut(ApiModel):
    valid: bool
    checked: int
    first_broken_event_id: str | None
    reason: str | None = Field(
        default=None,
        description="Why the first broken event does not fit: event-link (its MAC or hash), link, seq, "
        "chain-gap, no-head, link-to-earlier-month, unkeyed-after-keyed, differs-from-anchor, "
        "anchored-event-missing.",
    )


_MONTH: JsonDict = {"pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}


class _MonthQuery(QueryInput):
    """A query naming one month (`month=YYYY-MM`), checked the same wherever one is taken."""

    month: str | None = None

    @field_validator("month")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise ValueError("must be YYYY-MM")
        return value


class VerifyQuery(_MonthQuery):
    month: str | None = Field(
        default=None,
        description="YYYY-MM: only that month's events; every month kept when absent.",
        json_schema_extra=_MONTH,
    )


class VerificationRoute(RouteParams):
    missing = "No such verification."
    verification_id: Annotated[str, StringConstraints(pattern=VERIFICATION_ID)] = Field(
        alias="verificationId"
    )


class UsageQuery(_MonthQuery):
    month: str | None = Field(
        default=None, description="YYYY-MM; the current month when absent.", json_schema_extra=_MONTH
    )


class UsageOut(ApiModel):
    partner_id: str
    month: str
    units: dict[str, int]


@endpoint(
    bp,
    "partners/{partnerId}/events",
    methods=["GET"],
    summary="The audit log, newest first.",
    tag="audit",
    auth=partner_access(Scope.READ, operator=True),
)
def list_events(call: Call, context: PartnerContext, query: EventQuery) -> EventList:
    log = AuditLog(context.account, deps.clock())
    reach = context.reach
    view = None
    if reach.tenant_ids is not None:
        view = ScopedView(reach.tenant_ids, frozenset({context.caller.actor.id}))
    filters = EventFilter(
        start=query.from_,
        end=query.to,
        actor=query.actor,
        action=query.action,
        target=query.target,
        tenant=query.tenant_id,
        view=view,
    )
    items, token = log.list(context.partner.id, filters, query.top, query.continuation_token)
    return EventList(items=[EventOut.model_validate(item) for item in items], continuation_token=token)


@endpoint(
    bp,
    "partners/{partnerId}/events/verify",
    methods=["GET"],
    summary="Check the audit log's keyed chains and their anchors; name the first event that differs. "
    "A log (or month) of more than 2,000 events answers 202 with a Location to poll instead.",
    tag="audit",
    auth=partner_access(Scope.READ, operator=True),
)
def verify_events(
    call: Call, context: PartnerContext, query: VerifyQuery
) -> VerifyOut | Accepted[VerificationOut]:
    if not context.reach.unlimited:
        raise _needs_every_tenant("Verifying the audit log reads every event of every tenant")
    started = _verifications(context).start(context.partner.id, query.month)
    if started.operation is not None:
        # Bounded work per request: the large check runs as a long operation, step by step.
        location = f"/api/partners/{context.partner.id}/events/verifications/{started.operation.id}"
        return Accepted(started.operation, location)
    assert started.result is not None
    result = started.result
    return VerifyOut(
        valid=result.valid,
        checked=result.checked,
        first_broken_event_id=result.first_broken_event_id,
        reason=result.reason,
    )


@endpoint(
    bp,
    "partners/{partnerId}/events/verifications/{verificationId}",
    methods=["GET"],
    summary="A long verification of the audit log: its progress and, once succeeded, the result.",
    tag="audit",
    auth=partner_access(Scope.READ, operator=True),
)
def get_verification(call: Call, context: PartnerContext, route: VerificationRoute) -> VerificationOut:
    if not context.reach.unlimited:
        raise _needs_every_tenant("Verifying the audit log reads every event of every tenant")
    return _verifications(context).get(context.partner.id, route.verification_id)


def _verifications(context: PartnerContext) -> VerificationService:
    return VerificationService(context.account, AuditLog(context.account, deps.clock()))


def _verification_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        message = VerificationMessage.model_validate_json(msg.get_body())
        account = deps.storage().region(region)
        VerificationService(account, AuditLog(account, deps.clock())).run_step(
            message.partner_id, message.verification_id
        )

    queue_function(bp, f"audit_verify_{region}", VERIFY_QUEUE, region)(run)


for _region in get_settings().regions:
    _verification_handler(_region)


@bp.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=False)
def audit_anchor_timer(timer: func.TimerRequest) -> None:
    """Every 15 minutes: each partner-lane head not yet anchored goes to the region's anchor blob."""
    for region in deps.settings().regions:
        account = deps.storage().region(region)
        written = anchor_region(account, deps.clock(), partner_ids_in(account))
        log.info("audit anchors written in %s: %d", region, written)


@endpoint(
    bp,
    "partners/{partnerId}/usage",
    methods=["GET"],
    summary="Billable units in one calendar month.",
    tag="usage",
    auth=partner_access(Scope.READ, operator=True),
)
def get_usage(call: Call, context: PartnerContext, query: UsageQuery) -> UsageOut:
    if not context.reach.unlimited:
        raise _needs_every_tenant("Usage counts the whole partner's billable units")
    month = query.month or month_of(deps.clock().now())
    units = deps.usage(context.partner.region).month(context.partner.id, month)
    return UsageOut(partner_id=context.partner.id, month=month, units=units)


def _needs_every_tenant(what: str) -> ProblemError:
    return forbidden(ALL_TENANTS, f"{what}: it needs a caller with access to every tenant.")
