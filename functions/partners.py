"""Partner, subscription, personnel, API-key and tenant-group endpoints."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import azure.functions as func
from pydantic import Field, StringConstraints, ValidationError

from functions import deps
from functions.auth import (
    PartnerContext,
    operator_on_partner,
    operator_only,
    partner_access,
    signed_in_person,
)
from functions.http import Call, Created, NoContent, RouteParams, Ulid, endpoint
from shared.access.principals import Scope
from shared.audit.context import ActionContext
from shared.errors import FieldError, ProblemError, validation_failed
from shared.models import PageQuery
from shared.partners.me import SignedIn
from shared.partners.models import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyList,
    ApiKeyRotateIn,
    MeOut,
    PartnerIn,
    PartnerOut,
    PersonnelIn,
    PersonnelList,
    PersonnelOut,
    PersonnelPatch,
    PlanChangeIn,
    SubscriptionChangeIn,
    SubscriptionStateIn,
    TenantGroupIn,
    TenantGroupList,
    TenantGroupOut,
    UnsubscribeIn,
)
from shared.partners.plans import CatalogueOut, PlanId, PlanIn, PlanList, PlanVersion

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_GROUP_NAME = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,62}$")]


class PersonRoute(RouteParams):
    missing = "No such person."
    person_id: Ulid = Field(alias="personnelId")


class KeyRoute(RouteParams):
    missing = "No such API key."
    key_id: Ulid = Field(alias="keyId")


class GroupRoute(RouteParams):
    """`.../tenant-groups/{groupName}`: a name no group can have is a group that is not there."""

    missing = "No such tenant group."
    name: _GROUP_NAME = Field(alias="groupName")


class NewGroupRoute(GroupRoute):
    """The name of a group being created or replaced: a bad one is the caller's input to correct."""

    @classmethod
    def refusal(cls, error: ValidationError) -> ProblemError:
        return validation_failed([FieldError("groupName", "letters, digits, '-' and '_', at most 63")])


# --- partners and subscriptions (the platform operator) -------------------------------------


@endpoint(
    bp,
    "partners",
    methods=["POST"],
    idempotent=True,
    summary="Create a partner with its subscription.",
    tag="partners",
    auth=operator_only,
)
def create_partner(call: Call, action: ActionContext, body: PartnerIn) -> Created[PartnerOut]:
    partner = deps.partners().create(body, action, partner_id=call.work_id)
    return Created(deps.partners().view(partner), f"/api/partners/{partner.id}")


@endpoint(
    bp,
    "partners/{partnerId}",
    methods=["GET"],
    summary="A partner and its subscription.",
    tag="partners",
    auth=partner_access(Scope.READ, operator=True),
)
def get_partner(call: Call, context: PartnerContext) -> PartnerOut:
    return deps.partners().view(context.partner)


@endpoint(
    bp,
    "partners/{partnerId}/subscription",
    methods=["PATCH"],
    summary="Change plan or tenant limit from the start of the next billing cycle.",
    tag="partners",
    auth=operator_on_partner,
)
def change_subscription(call: Call, context: PartnerContext, body: SubscriptionChangeIn) -> PartnerOut:
    if body.plan is None and body.tenant_limit is None:
        raise validation_failed([FieldError("body", "give plan, tenantLimit or both")])
    partner = deps.partners().update_subscription(
        context.partner, body.plan, body.tenant_limit, context.action
    )
    return deps.partners().view(partner)


@endpoint(
    bp,
    "partners/{partnerId}/subscription/terminate",
    methods=["POST"],
    summary="End the subscription at the start of the next billing cycle.",
    tag="partners",
    auth=operator_on_partner,
)
def terminate_subscription(call: Call, context: PartnerContext) -> PartnerOut:
    return deps.partners().view(deps.partners().terminate(context.partner, context.action))


@endpoint(
    bp,
    "partners/{partnerId}/subscription/state",
    methods=["PUT"],
    summary="Billing: mark the subscription active (paid) or past_due.",
    tag="partners",
    auth=operator_on_partner,
)
def set_subscription_state(call: Call, context: PartnerContext, body: SubscriptionStateIn) -> PartnerOut:
    return deps.partners().view(deps.partners().update_state(context.partner, body.state, context.action))


# --- plans and self-service (the partner's owners and admins; the operator's catalogue) --------


class PlanRoute(RouteParams):
    missing = "No such plan."
    plan_id: PlanId = Field(alias="planId")


@endpoint(
    bp,
    "operator/plans",
    methods=["GET"],
    summary="The catalogue: every version of every plan, with when it was announced.",
    tag="plans",
    auth=operator_only,
)
def list_plan_versions(operator: ActionContext) -> CatalogueOut:
    return CatalogueOut(items=deps.partners().plans.list_versions())


@endpoint(
    bp,
    "operator/plans/{planId}",
    methods=["PUT"],
    summary="Publish a plan or a new version of it; a new price reaches a partner from its first "
    "cycle starting 30 days or more after now.",
    tag="plans",
    auth=operator_only,
)
def create_plan_version(operator: ActionContext, route: PlanRoute, body: PlanIn) -> PlanVersion:
    return deps.partners().plans.create_version(route.plan_id, body, operator)


@endpoint(
    bp,
    "partners/{partnerId}/plans",
    methods=["GET"],
    summary="The plans on offer, priced for this partner (and any announced price change).",
    tag="plans",
    auth=partner_access(Scope.READ, operator=True),
)
def list_plans(call: Call, context: PartnerContext) -> PlanList:
    return deps.partners().list_plans(context.partner)


@endpoint(
    bp,
    "partners/{partnerId}/subscription/plan-change",
    methods=["POST"],
    summary="Self-service: a dearer plan at once (pro-rated), a cheaper one or another billing cycle "
    "from the next cycle.",
    tag="plans",
    auth=partner_access(Scope.MANAGE_ACCESS, every_tenant=True),
)
def change_plan(call: Call, context: PartnerContext, body: PlanChangeIn) -> PartnerOut:
    return deps.partners().view(deps.partners().change_plan(context.partner, body, context.action))


@endpoint(
    bp,
    "partners/{partnerId}/subscription/unsubscribe",
    methods=["POST"],
    summary="Self-service: end the subscription at the end of the paid cycle.",
    tag="plans",
    # Allowed while read-only: ending the subscription only shrinks what the partner holds.
    auth=partner_access(Scope.MANAGE_ACCESS, allowed_when_read_only=True, every_tenant=True),
)
def unsubscribe_subscription(call: Call, context: PartnerContext, body: UnsubscribeIn) -> PartnerOut:
    # The choice for the data (delete, anonymise, return) is recorded; the last two start a package.
    partner = deps.data_returns().unsubscribe(context.partner, body.choice, context.action)
    return deps.partners().view(partner)


# --- the signed-in person ---------------------------------------------------------------------


@endpoint(
    bp,
    "me",
    methods=["GET"],
    summary="The signed-in person and the partners of their Entra tenant they belong to.",
    tag="me",
    auth=signed_in_person,
)
def get_me(call: Call, signed_in: SignedIn) -> MeOut:
    return deps.me().get_me(signed_in)


# --- personnel -------------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/personnel",
    methods=["GET"],
    summary="The partner's personnel.",
    tag="personnel",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def list_personnel(call: Call, context: PartnerContext, query: PageQuery) -> PersonnelList:
    items, token = context.access().list_personnel(query.top, query.continuation_token, context.reach)
    return PersonnelList(items=items, continuation_token=token)


@endpoint(
    bp,
    "partners/{partnerId}/personnel",
    methods=["POST"],
    idempotent=True,
    summary="Invite a person with a role.",
    tag="personnel",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def invite_personnel(call: Call, context: PartnerContext, body: PersonnelIn) -> Created[PersonnelOut]:
    access = context.access()
    person = access.invite(body, context.action, access.grantor(context.caller, context.reach))
    return Created(person, f"/api/partners/{context.partner.id}/personnel/{person.id}")


@endpoint(
    bp,
    "partners/{partnerId}/personnel/{personnelId}",
    methods=["GET"],
    summary="One person.",
    tag="personnel",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def get_personnel(call: Call, context: PartnerContext, route: PersonRoute) -> PersonnelOut:
    return context.access().get_person(route.person_id, context.reach)


@endpoint(
    bp,
    "partners/{partnerId}/personnel/{personnelId}",
    methods=["PATCH"],
    summary="Change a person's role, status, name or tenant scope.",
    tag="personnel",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def update_personnel(
    call: Call, context: PartnerContext, body: PersonnelPatch, route: PersonRoute
) -> PersonnelOut:
    access = context.access()
    grantor = access.grantor(context.caller, context.reach)
    return access.update_person(route.person_id, body, context.action, grantor)


@endpoint(
    bp,
    "partners/{partnerId}/personnel/{personnelId}",
    methods=["DELETE"],
    summary="Deactivate a person (their record stays for the retention period).",
    tag="personnel",
    auth=partner_access(Scope.MANAGE_ACCESS, allowed_when_read_only=True, operator=True),
)
def deactivate_personnel(call: Call, context: PartnerContext, route: PersonRoute) -> NoContent:
    # Not refused on a read-only subscription: removing access must always be possible.
    patch = PersonnelPatch.model_validate({"status": "deactivated"})
    access = context.access()
    grantor = access.grantor(context.caller, context.reach)
    access.update_person(route.person_id, patch, context.action, grantor)
    return NoContent()


# --- API keys --------------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/api-keys",
    methods=["GET"],
    summary="The partner's API keys (never secrets).",
    tag="api-keys",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def list_api_keys(call: Call, context: PartnerContext, query: PageQuery) -> ApiKeyList:
    items, token = context.access().list_keys(query.top, query.continuation_token, context.reach)
    return ApiKeyList(items=items, continuation_token=token)


@endpoint(
    bp,
    "partners/{partnerId}/api-keys",
    methods=["POST"],
    idempotent=True,
    summary="Create an API key; the secret is in this response only.",
    tag="api-keys",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def create_api_key(call: Call, context: PartnerContext, body: ApiKeyIn) -> Created[ApiKeyCreated]:
    access = context.access()
    created = access.create_key(body, context.action, access.grantor(context.caller, context.reach))
    return Created(created, f"/api/partners/{context.partner.id}/api-keys/{created.id}")


@endpoint(
    bp,
    "partners/{partnerId}/api-keys/{keyId}",
    methods=["DELETE"],
    summary="Revoke an API key; it stops working at once.",
    tag="api-keys",
    auth=partner_access(Scope.MANAGE_ACCESS, allowed_when_read_only=True, operator=True),
)
def revoke_api_key(call: Call, context: PartnerContext, route: KeyRoute) -> NoContent:
    access = context.access()
    access.revoke_key(route.key_id, context.action, access.grantor(context.caller, context.reach))
    return NoContent()


@endpoint(
    bp,
    "partners/{partnerId}/api-keys/{keyId}/rotate",
    methods=["POST"],
    summary="Replace a key's secret; the old one keeps working for `overlapHours` (default 24; 0: at once).",
    tag="api-keys",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def rotate_api_key(
    call: Call, context: PartnerContext, body: ApiKeyRotateIn, route: KeyRoute
) -> ApiKeyCreated:
    access = context.access()
    grantor = access.grantor(context.caller, context.reach)
    return access.rotate_key(route.key_id, context.action, grantor, timedelta(hours=body.overlap_hours))


# --- tenant groups ---------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/tenant-groups",
    methods=["GET"],
    summary="Named tenant groups, used to limit people and keys to some tenants.",
    tag="tenant-groups",
    auth=partner_access(Scope.READ),
)
def list_tenant_groups(call: Call, context: PartnerContext) -> TenantGroupList:
    return TenantGroupList(items=context.access().list_visible_groups(context.reach))


@endpoint(
    bp,
    "partners/{partnerId}/tenant-groups/{groupName}",
    methods=["GET"],
    summary="One tenant group.",
    tag="tenant-groups",
    auth=partner_access(Scope.READ),
)
def get_tenant_group(call: Call, context: PartnerContext, route: GroupRoute) -> TenantGroupOut:
    return context.access().get_group(route.name, context.reach)


@endpoint(
    bp,
    "partners/{partnerId}/tenant-groups/{groupName}",
    methods=["PUT"],
    summary="Create or replace a tenant group.",
    tag="tenant-groups",
    auth=partner_access(Scope.MANAGE_ACCESS),
)
def put_tenant_group(
    call: Call, context: PartnerContext, body: TenantGroupIn, route: NewGroupRoute
) -> TenantGroupOut:
    name = route.name
    access = context.access()
    grantor = access.grantor(context.caller, context.reach)
    return access.create_or_update_group(name, [str(t) for t in body.tenant_ids], context.action, grantor)


@endpoint(
    bp,
    "partners/{partnerId}/tenant-groups/{groupName}",
    methods=["DELETE"],
    summary="Delete a tenant group.",
    tag="tenant-groups",
    auth=partner_access(Scope.MANAGE_ACCESS),
)
def delete_tenant_group(call: Call, context: PartnerContext, route: GroupRoute) -> NoContent:
    access = context.access()
    grantor = access.grantor(context.caller, context.reach)
    access.delete_group(route.name, context.action, grantor)
    return NoContent()
