"""Audit-log and usage endpoints of a partner."""

from __future__ import annotations

import re
from typing import Annotated

import azure.functions as func
from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Call, endpoint
from shared.access.principals import Scope
from shared.access.reach import ALL_TENANTS
from shared.audit.log import AuditLog, EventFilter, ScopedView
from shared.errors import ProblemError, forbidden
from shared.models import ApiModel, PageQuery, QueryInput
from shared.usage import month_of

bp = func.Blueprint()  # type: ignore[no-untyped-call]


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


class UsageQuery(QueryInput):
    month: str | None = Field(
        default=None,
        description="YYYY-MM; the current month when absent.",
        json_schema_extra={"pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"},
    )

    @field_validator("month")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise ValueError("must be YYYY-MM")
        return value


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
    summary="Recompute the audit log's hash chains; name the first broken event.",
    tag="audit",
    auth=partner_access(Scope.READ, operator=True),
)
def verify_events(call: Call, context: PartnerContext) -> VerifyOut:
    if not context.reach.unlimited:
        raise _needs_every_tenant("Verifying the audit log reads every event of every tenant")
    result = AuditLog(context.account, deps.clock()).verify(context.partner.id)
    return VerifyOut(
        valid=result.valid, checked=result.checked, first_broken_event_id=result.first_broken_event_id
    )


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
