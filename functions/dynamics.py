"""Dynamics 365 push notifications: organisations, users, rules, devices, the Dataverse webhook,
notifications and their fan-out queue (one trigger per region)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import Field, ValidationError, field_validator

from functions import deps
from functions.auth import (
    PARTNER_SECURITY,
    Declared,
    PartnerContext,
    client_network,
    credentials_of,
    partner_access,
)
from functions.http import Accepted, Call, Created, NoContent, RouteParams, Ulid, endpoint
from functions.queues import queue_function
from shared.access.principals import Actor, OperatorCaller, PartnerCaller, Scope
from shared.access.reach import ALL_TENANTS, TenantReach, tenant_permission
from shared.audit.context import ActionContext
from shared.errors import ProblemError, forbidden, not_found, unauthenticated
from shared.models import PageQuery
from shared.notifications.ingest import WebhookDelivery
from shared.notifications.models import (
    DeliveredIn,
    DeliveredOut,
    DeviceCreated,
    DeviceIn,
    NotificationIn,
    NotificationList,
    NotificationOut,
    NotificationQuery,
    OrgCreated,
    OrgIn,
    OrgList,
    OrgOut,
    OrgPatch,
    OrgSecretOut,
    RuleIn,
    RuleList,
    RuleOut,
    SystemUserList,
    SystemUsersIn,
    SystemUsersUpserted,
    WebhookAccepted,
    WebhookKeyRotateIn,
)
from shared.notifications.orgs import Org, OrgLocation
from shared.notifications.records import QUEUE
from shared.notifications.webhook import SIZE_EXCEEDED_HEADER
from shared.settings import get_settings

log = logging.getLogger("tenantry.dynamics")

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_ORG = "partners/{partnerId}/orgs/{orgId:guid}"
WEBHOOK_SECURITY = ("webhookKey",)
# Both at once: the org's device key, and the Dynamics user's Entra ID token.
DEVICE_REGISTRATION_SECURITY = ("deviceKey+dynamicsUser",)
DEVICE_SECRET_SECURITY = ("deviceSecret",)


class OrgRoute(RouteParams):
    """`.../orgs/{orgId}`: a GUID in any form the host's `guid` constraint lets through, kept as
    its canonical lower-case text (Dataverse sends it either way)."""

    missing = "No such organisation."
    id: str = Field(alias="orgId")

    @field_validator("id")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return str(uuid.UUID(value)).lower()


class RuleRoute(OrgRoute):
    missing_by_name = {"ruleId": "No such rule."}
    rule_id: Ulid = Field(alias="ruleId")


class OrgNotificationRoute(OrgRoute):
    missing_by_name = {"notificationId": "No such notification."}
    notification_id: Ulid = Field(alias="notificationId")


class DeviceRoute(RouteParams):
    """`.../devices/{deviceId}`: any text; unsubscribing a device that is not there is done."""

    device_id: str = Field(alias="deviceId", min_length=1)


class DeliveryRoute(RouteParams):
    missing = "No such notification for this device."
    notification_id: Ulid = Field(alias="notificationId")


def _org_id(context: PartnerContext, route: OrgRoute) -> str:
    """The route's org id; an org outside a scoped caller's reach answers 404 here, as if missing,
    so everything under `.../orgs/{orgId}` follows its org's tenant."""
    if not context.reach.unlimited:
        _within_reach(context.reach, _orgs(context).get(route.id))
    return route.id


def _route_org_id(call: Call) -> str:
    """The org id for an authenticator (which runs before the handler's route model is read)."""
    try:
        return OrgRoute.model_validate(call.route).id
    except ValidationError:
        raise not_found(OrgRoute.missing) from None


def _within_reach(reach: TenantReach, org: Org) -> Org:
    # An org without a tenant belongs to no tenant a scoped caller has: unscoped callers only.
    if not reach.allows(org.tenant_id):
        raise not_found("No such organisation.")
    return org


def _may_name_tenant(reach: TenantReach, tenant_id: object) -> None:
    """A scoped caller files an org only under a tenant of its own (never none: that is everyone's)."""
    if reach.unlimited:
        return
    if tenant_id is None:
        raise forbidden(
            ALL_TENANTS, "A caller limited to some tenants must give the org's tenantId, one of its tenants."
        )
    if not reach.allows(str(tenant_id)):
        detail = f"Tenant {tenant_id} is outside your tenant scope."
        raise forbidden(tenant_permission(str(tenant_id)), detail)


def _base_url(call: Call) -> str:
    parts = urlsplit(call.request.url)
    return f"{parts.scheme}://{parts.netloc}"


def _orgs(context: PartnerContext) -> Any:
    return deps.orgs(context.partner.id, context.partner.region)


def _group_members(location: OrgLocation) -> dict[str, frozenset[str]]:
    from shared.partners.access import AccessService

    account = deps.storage().region(location.region)
    ring = deps.key_ring(deps.settings())
    return AccessService(account, location.partner_id, deps.clock(), ring).list_group_members()


# --- organisations ------------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/orgs",
    methods=["POST"],
    idempotent=True,
    summary="Register a Dynamics 365 organisation; the webhook and device keys are in this response only.",
    tag="dynamics",
    auth=partner_access(Scope.WRITE),
)
def register_org(call: Call, context: PartnerContext, body: OrgIn) -> Created[OrgCreated]:
    _may_name_tenant(context.reach, body.tenant_id)
    created = _orgs(context).register(body, _base_url(call), context.action)
    return Created(created, f"/api/partners/{context.partner.id}/orgs/{created.id}")


@endpoint(
    bp,
    "partners/{partnerId}/orgs",
    methods=["GET"],
    summary="The partner's Dynamics 365 organisations.",
    tag="dynamics",
    auth=partner_access(Scope.READ),
)
def list_orgs(call: Call, context: PartnerContext, query: PageQuery) -> OrgList:
    orgs, token = _orgs(context).list_orgs(query.top, query.continuation_token)
    # A scoped caller's pages may come back short: orgs of other tenants are left out.
    seen = [o for o in orgs if context.reach.allows(o.tenant_id)]
    return OrgList(items=[o.view(_base_url(call)) for o in seen], continuation_token=token)


@endpoint(
    bp, _ORG, methods=["GET"], summary="One organisation (never its secrets).", tag="dynamics",
    auth=partner_access(Scope.READ),
)  # fmt: skip
def get_org(call: Call, context: PartnerContext, route: OrgRoute) -> OrgOut:
    orgs = _orgs(context)
    org: Org = orgs.settled(orgs.get(_org_id(context, route)))
    return org.view(_base_url(call))


@endpoint(
    bp, _ORG, methods=["PATCH"], summary="Change an organisation's details or webhook authentication type.",
    tag="dynamics", auth=partner_access(Scope.WRITE),
)  # fmt: skip
def update_org(call: Call, context: PartnerContext, body: OrgPatch, route: OrgRoute) -> OrgOut:
    if "tenant_id" in body.model_fields_set:
        _may_name_tenant(context.reach, body.tenant_id)
    org: Org = _orgs(context).update(_org_id(context, route), body, context.action)
    return org.view(_base_url(call))


@endpoint(
    bp, _ORG, methods=["DELETE"],
    summary="Remove an organisation with its users, rules, devices and notification metadata.",
    tag="dynamics", auth=partner_access(Scope.WRITE, allowed_when_read_only=True),
)  # fmt: skip
def delete_org(call: Call, context: PartnerContext, route: OrgRoute) -> NoContent:
    _orgs(context).delete(_org_id(context, route), context.action)
    return NoContent()


@endpoint(
    bp, _ORG + "/webhook-key/rotate", methods=["POST"],
    summary="Replace the webhook key; the old one keeps working for `overlapHours` (default: the "
    "stamp's grace window, 24 h; 0 ends it at once).",
    tag="dynamics", auth=partner_access(Scope.WRITE),
)  # fmt: skip
def rotate_webhook_key(
    call: Call, context: PartnerContext, body: WebhookKeyRotateIn, route: OrgRoute
) -> OrgSecretOut:
    hours = body.overlap_hours if body.overlap_hours is not None else get_settings().webhook_key_grace_hours
    result: OrgSecretOut = _orgs(context).rotate(
        _org_id(context, route), "webhook", context.action, timedelta(hours=hours)
    )
    return result


@endpoint(
    bp, _ORG + "/device-key/rotate", methods=["POST"],
    summary="Replace the device-registration key; registered devices keep working.",
    tag="dynamics", auth=partner_access(Scope.WRITE),
)  # fmt: skip
def rotate_device_key(call: Call, context: PartnerContext, route: OrgRoute) -> OrgSecretOut:
    result: OrgSecretOut = _orgs(context).rotate(_org_id(context, route), "device", context.action)
    return result


# --- system users ---------------------------------------------------------------------------------


@endpoint(
    bp, _ORG + "/users", methods=["PUT"], summary="Upsert system users in bulk (at most 1000 per call).",
    tag="dynamics", auth=partner_access(Scope.WRITE),
)  # fmt: skip
def upsert_org_users(
    call: Call, context: PartnerContext, body: SystemUsersIn, route: OrgRoute
) -> SystemUsersUpserted:
    count = _orgs(context).upsert_users(_org_id(context, route), body.items, context.action)
    return SystemUsersUpserted(upserted=count)


@endpoint(
    bp, _ORG + "/users", methods=["GET"], summary="The organisation's system users, paged.",
    tag="dynamics", auth=partner_access(Scope.READ),
)  # fmt: skip
def list_org_users(call: Call, context: PartnerContext, query: PageQuery, route: OrgRoute) -> SystemUserList:
    items, token = _orgs(context).list_users(_org_id(context, route), query.top, query.continuation_token)
    return SystemUserList(items=items, continuation_token=token)


# --- rules ------------------------------------------------------------------------------------------


@endpoint(
    bp, _ORG + "/rules", methods=["GET"], summary="Notification rules of the organisation.",
    tag="dynamics", auth=partner_access(Scope.READ),
)  # fmt: skip
def list_rules(call: Call, context: PartnerContext, query: PageQuery, route: OrgRoute) -> RuleList:
    items, token = _orgs(context).list_rules(_org_id(context, route), query.top, query.continuation_token)
    return RuleList(items=items, continuation_token=token)


@endpoint(
    bp, _ORG + "/rules", methods=["POST"], idempotent=True,
    summary="Create a rule: a Dataverse event, title/body templates, a link, recipients.",
    tag="dynamics", auth=partner_access(Scope.WRITE),
)  # fmt: skip
def create_rule(call: Call, context: PartnerContext, body: RuleIn, route: OrgRoute) -> Created[RuleOut]:
    org_id = _org_id(context, route)
    rule: RuleOut = _orgs(context).create_rule(org_id, body, context.action)
    return Created(rule, f"/api/partners/{context.partner.id}/orgs/{org_id}/rules/{rule.id}")


@endpoint(
    bp, _ORG + "/rules/{ruleId}", methods=["GET"], summary="One rule.",
    tag="dynamics", auth=partner_access(Scope.READ),
)  # fmt: skip
def get_rule(call: Call, context: PartnerContext, route: RuleRoute) -> RuleOut:
    rule: RuleOut = _orgs(context).get_rule(_org_id(context, route), route.rule_id)
    return rule


@endpoint(
    bp, _ORG + "/rules/{ruleId}", methods=["PUT"], summary="Replace a rule.",
    tag="dynamics", auth=partner_access(Scope.WRITE),
)  # fmt: skip
def replace_rule(call: Call, context: PartnerContext, body: RuleIn, route: RuleRoute) -> RuleOut:
    rule: RuleOut = _orgs(context).update_rule(_org_id(context, route), route.rule_id, body, context.action)
    return rule


@endpoint(
    bp, _ORG + "/rules/{ruleId}", methods=["DELETE"], summary="Delete a rule.",
    tag="dynamics", auth=partner_access(Scope.WRITE, allowed_when_read_only=True),
)  # fmt: skip
def delete_rule(call: Call, context: PartnerContext, route: RuleRoute) -> NoContent:
    _orgs(context).delete_rule(_org_id(context, route), route.rule_id, context.action)
    return NoContent()


# --- notifications (partner) ----------------------------------------------------------------------


@endpoint(
    bp, _ORG + "/notifications", methods=["POST"], idempotent=True,
    summary="Send a notification to system users (or everyone) of the organisation.",
    tag="dynamics", auth=partner_access(Scope.NOTIFY),
)  # fmt: skip
def send_notification(
    context: PartnerContext, body: NotificationIn, route: OrgRoute
) -> Accepted[NotificationOut]:
    sent = deps.direct_send(context.partner).send(_org_id(context, route), body, context.action)
    return Accepted(sent.notification, sent.location)


@endpoint(
    bp, _ORG + "/notifications", methods=["GET"], summary="Notifications of the organisation (never a body).",
    tag="dynamics", auth=partner_access(Scope.READ),
)  # fmt: skip
def list_notifications(
    call: Call, context: PartnerContext, query: PageQuery, route: OrgRoute
) -> NotificationList:
    org: Org = _orgs(context).get(_org_id(context, route))
    service = deps.notifications(context.partner.id, context.partner.region)
    items, token = service.list_notifications(org.id, query.top, query.continuation_token)
    return NotificationList(items=items, continuation_token=token)


@endpoint(
    bp, _ORG + "/notifications/{notificationId}", methods=["GET"],
    summary="A notification: recipients, sent/delivered/failed counts, per-device outcomes (paged).",
    tag="dynamics", auth=partner_access(Scope.READ),
)  # fmt: skip
def get_notification(
    call: Call, context: PartnerContext, query: NotificationQuery, route: OrgNotificationRoute
) -> NotificationOut:
    org: Org = _orgs(context).get(_org_id(context, route))
    service = deps.notifications(context.partner.id, context.partner.region)
    return service.get(org.id, route.notification_id, query.top, query.continuation_token)


# --- the Dataverse webhook ------------------------------------------------------------------------


def _webhook_delivery(call: Call) -> WebhookDelivery:
    headers = {k.lower(): v for k, v in call.request.headers.items()}
    return deps.dataverse_webhook().authenticate(
        _route_org_id(call), code=call.request.params.get("code"), headers=headers
    )


# The registration the delivery's key belongs to (a proven org's, or one pending proof).
webhook_auth = Declared(_webhook_delivery, WEBHOOK_SECURITY)


@endpoint(
    bp,
    "dynamics/{orgId:guid}/webhook",
    methods=["POST"],
    summary="The Dataverse service endpoint: a RemoteExecutionContext becomes notifications (202).",
    tag="dynamics",
    auth=webhook_auth,
)
def dataverse_webhook(call: Call, delivery: WebhookDelivery) -> Accepted[WebhookAccepted]:
    ingested = deps.dataverse_webhook().ingest(
        delivery,
        call.request.get_body() or b"",
        size_exceeded=call.header(SIZE_EXCEEDED_HEADER) is not None,
        request_id=call.request_id,
    )
    return Accepted(ingested.accepted, ingested.location)


# --- devices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceKeyHolder:
    """A caller with the org's device key (a public identifier), its rate limit counted."""

    location: OrgLocation
    org: Org


def _device_key_holder(call: Call) -> DeviceKeyHolder:
    return DeviceKeyHolder(*deps.device_enrolment().admit(_route_org_id(call), call.header("x-device-key")))


device_key_auth = Declared(_device_key_holder, DEVICE_REGISTRATION_SECURITY)


@endpoint(
    bp,
    "orgs/{orgId:guid}/devices",
    methods=["POST"],
    summary="Register a browser or app for push (token or fid) for the Dynamics user whose Entra ID "
    "token comes with it; the device secret is in this response only.",
    tag="devices",
    auth=device_key_auth,
)
def register_device(call: Call, holder: DeviceKeyHolder, body: DeviceIn) -> Created[DeviceCreated]:
    location = holder.location
    created = deps.device_enrolment().register(location, holder.org, credentials_of(call).bearer, body)
    return Created(created, f"/api/orgs/{location.org_id}/devices/{created.id}")


@dataclass(frozen=True)
class DeviceOwner:
    """The device itself (its secret) or the partner that owns the org, acting on one device."""

    location: OrgLocation
    action: ActionContext


def _device_owner(call: Call) -> DeviceOwner:
    """The device's own secret, or a credential of the partner that owns the org (which can do more)."""
    org_id = _route_org_id(call)
    # Read again where the org lives now if the remembered claim refuses (the org moved partner).
    owner = deps.org_directory().resolve(org_id, lambda location: _device_owner_at(call, org_id, location))
    if owner is None:
        raise unauthenticated("Unknown organisation or wrong credential.")
    return owner


def _device_owner_at(call: Call, org_id: str, location: OrgLocation) -> DeviceOwner:
    secret = call.header("x-device-secret")
    if secret is not None:
        deps.devices(location.region).check_secret(org_id, call.route.get("deviceId", ""), secret)
        actor = Actor("device", call.route.get("deviceId", ""))
    else:
        credentials = credentials_of(call)
        if credentials.api_key is None and credentials.bearer is None:
            raise unauthenticated()
        caller, _ = deps.authenticator().partner_caller(location.partner_id, credentials)
        if not isinstance(caller, OperatorCaller) and Scope.WRITE not in caller.scopes:
            raise ProblemError(403, "forbidden", "Not allowed.", "This needs the 'write' permission.")
        if isinstance(caller, PartnerCaller) and caller.tenant_scope is not None:
            orgs = deps.orgs(location.partner_id, location.region)
            reach = TenantReach.of(caller, lambda: _group_members(location))
            _within_reach(reach, orgs.get(org_id))
        actor = caller.actor
    ip = client_network(call)
    return DeviceOwner(location, ActionContext(actor, call.request_id, ip))


device_or_partner_auth = Declared(_device_owner, (*DEVICE_SECRET_SECURITY, *PARTNER_SECURITY))


@endpoint(
    bp,
    "orgs/{orgId:guid}/devices/{deviceId}",
    methods=["DELETE"],
    summary="Unsubscribe a device: it stops receiving at once (device secret, or the partner's credential).",
    tag="devices",
    auth=device_or_partner_auth,
)
def unregister_device(call: Call, owner: DeviceOwner, route: DeviceRoute) -> NoContent:
    deps.device_enrolment().unregister(owner.location, route.device_id, owner.action)
    return NoContent()


@dataclass(frozen=True)
class DeviceSecretHolder:
    location: OrgLocation
    device_id: str


def _device_secret_holder(call: Call) -> DeviceSecretHolder:
    from shared.notifications.secrets import parse_device_secret

    secret = call.header("x-device-secret") or ""
    parsed = parse_device_secret(secret)
    if parsed is None:
        raise unauthenticated("The device secret is missing or malformed.")

    def at(location: OrgLocation) -> DeviceSecretHolder:
        deps.devices(location.region).check_secret(parsed.org_id, parsed.device_id, secret)
        return DeviceSecretHolder(location, parsed.device_id)

    holder = deps.org_directory().resolve(parsed.org_id, at)
    if holder is None:
        raise unauthenticated("The device secret is not valid.")
    return holder


device_secret_auth = Declared(_device_secret_holder, DEVICE_SECRET_SECURITY)


@endpoint(
    bp,
    "notifications/{notificationId}/delivered",
    methods=["POST"],
    summary="A device acknowledges that it showed a notification (device secret).",
    tag="devices",
    auth=device_secret_auth,
)
def acknowledge_delivery(
    call: Call, device: DeviceSecretHolder, body: DeliveredIn, route: DeliveryRoute
) -> DeliveredOut:
    service = deps.notifications(device.location.partner_id, device.location.region)
    return service.delivered(route.notification_id, device.device_id, body.delivered_at)


# --- the fan-out queue, one trigger per region ------------------------------------------------------


def _fanout_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        deps.fanout(region).handle_message(msg.get_body())

    queue_function(bp, f"notify_fanout_{region}", QUEUE, region)(run)


for _region in get_settings().regions:
    _fanout_handler(_region)
