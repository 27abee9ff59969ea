"""User lifecycle endpoints (offboarding as a long operation, user template, create user) and their queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func
from pydantic import Field

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Accepted, Call, Created, Ulid, endpoint
from functions.queues import final_attempt, queue_function
from functions.tenants import TenantRoute, UserRoute
from shared.access.principals import Scope
from shared.errors import not_found
from shared.settings import get_settings
from shared.tenants.lifecycle_models import (
    OFFBOARD_QUEUE,
    OffboardingIn,
    OffboardingMessage,
    OffboardingOut,
    UserCreatedOut,
    UserCreateIn,
    UserTemplateIn,
    UserTemplateOut,
)

if TYPE_CHECKING:
    from shared.tenants.offboarding import OffboardingService
    from shared.tenants.user_templates import UserTemplates

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_TENANT = "partners/{partnerId}/tenants/{tenantId}"


class OffboardingRoute(TenantRoute):
    missing_by_name = {"offboardingId": "No such offboarding."}
    offboarding_id: Ulid = Field(alias="offboardingId")


def _visible(context: PartnerContext, call: Call) -> None:
    """A tenant outside the caller's scope answers 404, like a missing one."""
    if not context.reach.allows(call.route.get("tenantId", "").lower()):
        raise not_found("No such tenant.")


def _offboarding(context: PartnerContext, call: Call) -> OffboardingService:
    _visible(context, call)
    return deps.offboarding(context.partner)


def _templates(context: PartnerContext, call: Call) -> UserTemplates:
    _visible(context, call)
    return deps.user_templates(context.partner)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}/offboarding",
    methods=["POST"],
    summary="Offboard a leaver (block sign-in, revoke sessions, automatic reply, OneDrive handover, "
    "groups, roles, licences; what Graph cannot do is listed as manual): a long operation to poll.",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def start_offboarding(
    call: Call, context: PartnerContext, body: OffboardingIn, route: UserRoute
) -> Accepted[OffboardingOut]:
    operation = _offboarding(context, call).start(route.tenant_id, route.user_id, body, context.action)
    return Accepted(
        operation,
        f"/api/partners/{context.partner.id}/tenants/{operation.tenant_id}/offboardings/{operation.id}",
    )


@endpoint(
    bp,
    f"{_TENANT}/offboardings/{{offboardingId}}",
    methods=["GET"],
    summary="An offboarding's status: one line per step (pending, done, skipped, manual, failed).",
    tag="tenant-users",
    auth=partner_access(Scope.READ),
)
def get_offboarding(call: Call, context: PartnerContext, route: OffboardingRoute) -> OffboardingOut:
    return _offboarding(context, call).get(route.tenant_id, route.offboarding_id)


@endpoint(
    bp,
    f"{_TENANT}/user-template",
    methods=["GET"],
    summary="The licences and groups a user created in this tenant gets.",
    tag="tenant-users",
    auth=partner_access(Scope.READ),
)
def get_user_template(call: Call, context: PartnerContext, route: TenantRoute) -> UserTemplateOut:
    return _templates(context, call).get_template(route.tenant_id)


@endpoint(
    bp,
    f"{_TENANT}/user-template",
    methods=["PUT"],
    summary="Set the licences and groups a user created in this tenant gets (groups as last synced).",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def put_user_template(
    call: Call, context: PartnerContext, body: UserTemplateIn, route: TenantRoute
) -> UserTemplateOut:
    return _templates(context, call).create_or_update_template(route.tenant_id, body, context.action)


@endpoint(
    bp,
    f"{_TENANT}/users",
    methods=["POST"],
    summary="Create a user with the tenant template's licences and groups; the one-time password is "
    "answered once (kept nowhere).",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def create_user(
    call: Call, context: PartnerContext, body: UserCreateIn, route: TenantRoute
) -> Created[UserCreatedOut]:
    created = _templates(context, call).create_user(route.tenant_id, body, context.action)
    tenant = route.tenant_id.lower()
    return Created(created, f"/api/partners/{context.partner.id}/tenants/{tenant}/users/{created.user.id}")


def _offboarding_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        message = OffboardingMessage.model_validate_json(msg.get_body())
        partner = deps.partners().get(message.partner_id)
        final = final_attempt(msg)
        deps.offboarding(partner).run(message.tenant_id, message.operation_id, final_attempt=final)

    queue_function(bp, f"tenant_offboard_{region}", OFFBOARD_QUEUE, region)(run)


for _region in get_settings().regions:
    _offboarding_handler(_region)
