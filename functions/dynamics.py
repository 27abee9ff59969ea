"""Dynamics 365 push notifications: organisations, users, rules, devices, the Dataverse webhook,
notifications and their fan-out queue (one trigger per region)."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from functions import deps
from functions.auth import PARTNER_SECURITY, PartnerContext, credentials_of, partner_access, partner_context
from functions.http import Accepted, Call, Created, NoContent, endpoint
from shared.access.principals import Actor, OperatorCaller, PartnerCaller, Scope
from shared.access.reach import ALL_TENANTS, TenantReach, tenant_permission
from shared.audit.context import ActionContext
from shared.audit.ip import anonymise_ip
from shared.errors import ProblemError, forbidden, not_found, service_unavailable, unauthenticated
from shared.models import PageQuery
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
)
from shared.notifications.orgs import Org, OrgLocation
from shared.notifications.service import QUEUE, NewNotification, Payload
from shared.settings import get_settings, region_storage_setting

log = logging.getLogger("tenantry.dynamics")

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_ORG = "partners/{partnerId}/orgs/{orgId:guid}"
WEBHOOK_SECURITY = ("webhookKey",)
# Both at once: the org's device key, and the Dynamics user's Entra ID token.
DEVICE_REGISTRATION_SECURITY = ("deviceKey+dynamicsUser",)
DEVICE_SECRET_SECURITY = ("deviceSecret",)


def _org_id(call: Call) -> str:
    """The route's org id; on a partner's path, an org outside a scoped caller's reach answers 404
    here, as if missing, so everything under `.../orgs/{orgId}` follows its org's tenant."""
    try:
        org_id = str(uuid.UUID(call.route.get("orgId", ""))).lower()
    except ValueError:
        raise not_found("No such organisation.") from None
    context = call.principal
    if isinstance(context, PartnerContext) and not context.reach.unlimited:
        _within_reach(context.reach, _orgs(context).get(org_id))
    return org_id


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

    pepper = deps.settings().api_key_pepper.get_secret_value()
    account = deps.storage().region(location.region)
    return AccessService(account, location.partner_id, deps.clock(), pepper).group_members()


# --- organisations ------------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/orgs",
    methods=["POST"],
    summary="Register a Dynamics 365 organisation; the webhook and device keys are in this response only.",
    tag="dynamics",
    auth=partner_access(Scope.WRITE, write=True),
    security=PARTNER_SECURITY,
)
def register_org(call: Call, body: OrgIn) -> Created[OrgCreated]:
    context = partner_context(call)
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
    security=PARTNER_SECURITY,
)
def list_orgs(call: Call, query: PageQuery) -> OrgList:
    context = partner_context(call)
    orgs, token = _orgs(context).list_orgs(query.top, query.continuation_token)
    # A scoped caller's pages may come back short: orgs of other tenants are left out.
    seen = [o for o in orgs if context.reach.allows(o.tenant_id)]
    return OrgList(items=[o.view(_base_url(call)) for o in seen], continuation_token=token)


@endpoint(
    bp, _ORG, methods=["GET"], summary="One organisation (never its secrets).", tag="dynamics",
    auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def get_org(call: Call) -> OrgOut:
    orgs = _orgs(partner_context(call))
    org: Org = orgs.settled(orgs.get(_org_id(call)))
    return org.view(_base_url(call))


@endpoint(
    bp, _ORG, methods=["PATCH"], summary="Change an organisation's details or webhook authentication type.",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def update_org(call: Call, body: OrgPatch) -> OrgOut:
    context = partner_context(call)
    if "tenant_id" in body.model_fields_set:
        _may_name_tenant(context.reach, body.tenant_id)
    org: Org = _orgs(context).update(_org_id(call), body, context.action)
    return org.view(_base_url(call))


@endpoint(
    bp, _ORG, methods=["DELETE"],
    summary="Remove an organisation with its users, rules, devices and notification metadata.",
    tag="dynamics", auth=partner_access(Scope.WRITE), security=PARTNER_SECURITY,
)  # fmt: skip
def delete_org(call: Call) -> NoContent:
    context = partner_context(call)
    _orgs(context).delete(_org_id(call), context.action)
    return NoContent()


@endpoint(
    bp, _ORG + "/webhook-key/rotate", methods=["POST"],
    summary="Replace the webhook key; the old one stops working at once.",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def rotate_webhook_key(call: Call) -> OrgSecretOut:
    context = partner_context(call)
    result: OrgSecretOut = _orgs(context).rotate(_org_id(call), "webhook", context.action)
    return result


@endpoint(
    bp, _ORG + "/device-key/rotate", methods=["POST"],
    summary="Replace the device-registration key; registered devices keep working.",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def rotate_device_key(call: Call) -> OrgSecretOut:
    context = partner_context(call)
    result: OrgSecretOut = _orgs(context).rotate(_org_id(call), "device", context.action)
    return result


# --- system users ---------------------------------------------------------------------------------


@endpoint(
    bp, _ORG + "/users", methods=["PUT"], summary="Upsert system users in bulk (at most 1000 per call).",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def upsert_org_users(call: Call, body: SystemUsersIn) -> SystemUsersUpserted:
    context = partner_context(call)
    count = _orgs(context).upsert_users(_org_id(call), body.items, context.action)
    return SystemUsersUpserted(upserted=count)


@endpoint(
    bp, _ORG + "/users", methods=["GET"], summary="The organisation's system users, paged.",
    tag="dynamics", auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def list_org_users(call: Call, query: PageQuery) -> SystemUserList:
    items, token = _orgs(partner_context(call)).list_users(_org_id(call), query.top, query.continuation_token)
    return SystemUserList(items=items, continuation_token=token)


# --- rules ------------------------------------------------------------------------------------------


@endpoint(
    bp, _ORG + "/rules", methods=["GET"], summary="Notification rules of the organisation.",
    tag="dynamics", auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def list_rules(call: Call, query: PageQuery) -> RuleList:
    items, token = _orgs(partner_context(call)).list_rules(_org_id(call), query.top, query.continuation_token)
    return RuleList(items=items, continuation_token=token)


@endpoint(
    bp, _ORG + "/rules", methods=["POST"],
    summary="Create a rule: a Dataverse event, title/body templates, a link, recipients.",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def create_rule(call: Call, body: RuleIn) -> Created[RuleOut]:
    context = partner_context(call)
    org_id = _org_id(call)
    rule: RuleOut = _orgs(context).create_rule(org_id, body, context.action)
    return Created(rule, f"/api/partners/{context.partner.id}/orgs/{org_id}/rules/{rule.id}")


@endpoint(
    bp, _ORG + "/rules/{ruleId}", methods=["GET"], summary="One rule.",
    tag="dynamics", auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def get_rule(call: Call) -> RuleOut:
    rule: RuleOut = _orgs(partner_context(call)).get_rule(_org_id(call), call.route["ruleId"])
    return rule


@endpoint(
    bp, _ORG + "/rules/{ruleId}", methods=["PUT"], summary="Replace a rule.",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def replace_rule(call: Call, body: RuleIn) -> RuleOut:
    context = partner_context(call)
    rule: RuleOut = _orgs(context).replace_rule(_org_id(call), call.route["ruleId"], body, context.action)
    return rule


@endpoint(
    bp, _ORG + "/rules/{ruleId}", methods=["DELETE"], summary="Delete a rule.",
    tag="dynamics", auth=partner_access(Scope.WRITE), security=PARTNER_SECURITY,
)  # fmt: skip
def delete_rule(call: Call) -> NoContent:
    context = partner_context(call)
    _orgs(context).delete_rule(_org_id(call), call.route["ruleId"], context.action)
    return NoContent()


# --- notifications (partner) ----------------------------------------------------------------------


@endpoint(
    bp, _ORG + "/notifications", methods=["POST"],
    summary="Send a notification to system users (or everyone) of the organisation.",
    tag="dynamics", auth=partner_access(Scope.NOTIFY, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def send_notification(call: Call, body: NotificationIn) -> Accepted[NotificationOut]:
    context = partner_context(call)
    orgs = _orgs(context)
    org: Org = orgs.require_proven(orgs.get(_org_id(call)))
    service = deps.notifications(context.partner.id, context.partner.region)
    notification_id, _ = service.accept(
        NewNotification(
            org_id=org.id,
            source="partner",
            recipients=None if body.everyone else [str(u).lower() for u in body.recipients or []],
            payload=Payload(body.title, body.body, dict(body.data), body.link),
        )
    )
    context.action.record(
        _orgs(context).audit(),
        context.partner.id,
        "notification.sent",
        {"type": "notification", "id": notification_id, "orgId": org.id},
        details={"everyone": body.everyone, "recipients": len(body.recipients or [])},
        tenant_id=org.tenant_id,
    )
    view = service.get(org.id, notification_id, top=1)
    view.devices = None
    view.devices_continuation_token = None
    location = f"/api/partners/{context.partner.id}/orgs/{org.id}/notifications/{notification_id}"
    return Accepted(view, location)


@endpoint(
    bp, _ORG + "/notifications", methods=["GET"], summary="Notifications of the organisation (never a body).",
    tag="dynamics", auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def list_notifications(call: Call, query: PageQuery) -> NotificationList:
    context = partner_context(call)
    org: Org = _orgs(context).get(_org_id(call))
    service = deps.notifications(context.partner.id, context.partner.region)
    items, token = service.list_notifications(org.id, query.top, query.continuation_token)
    return NotificationList(items=items, continuation_token=token)


@endpoint(
    bp, _ORG + "/notifications/{notificationId}", methods=["GET"],
    summary="A notification: recipients, sent/delivered/failed counts, per-device outcomes (paged).",
    tag="dynamics", auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def get_notification(call: Call, query: NotificationQuery) -> NotificationOut:
    context = partner_context(call)
    org: Org = _orgs(context).get(_org_id(call))
    service = deps.notifications(context.partner.id, context.partner.region)
    return service.get(org.id, call.route["notificationId"], query.top, query.continuation_token)


# --- the Dataverse webhook ------------------------------------------------------------------------


def _storage_trouble(error: Exception) -> ProblemError:
    log.warning("webhook storage call failed: %s", type(error).__name__)
    # Dataverse retries a 503 once; a 500 it would not.
    return service_unavailable("Storage did not answer; Dataverse retries this delivery.")


def webhook_auth(call: Call) -> tuple[OrgLocation, Org]:
    """The registration the delivery's key belongs to (a proven org's, or one pending proof)."""
    from azure.core.exceptions import AzureError

    from shared.notifications.webhook import authenticate_delivery

    headers = {k.lower(): v for k, v in call.request.headers.items()}
    pepper = deps.settings().api_key_pepper.get_secret_value()
    try:
        return authenticate_delivery(
            deps.org_directory(),
            deps.orgs,
            _org_id(call),
            code=call.request.params.get("code"),
            headers=headers,
            pepper=pepper,
        )
    except AzureError as error:
        raise _storage_trouble(error) from None


@endpoint(
    bp,
    "dynamics/{orgId:guid}/webhook",
    methods=["POST"],
    summary="The Dataverse service endpoint: a RemoteExecutionContext becomes notifications (202).",
    tag="dynamics",
    auth=webhook_auth,
    security=WEBHOOK_SECURITY,
)
def dataverse_webhook(call: Call) -> Accepted[WebhookAccepted]:
    from azure.core.exceptions import AzureError

    from shared.notifications.dataverse import parse_context
    from shared.notifications.webhook import SIZE_EXCEEDED_HEADER, plan, read_body

    location, org = call.principal
    raw = call.request.get_body() or b""
    body = read_body(raw)
    try:
        context = parse_context(body, size_exceeded=call.header(SIZE_EXCEEDED_HEADER) is not None)
    except ValueError:
        raise ProblemError(422, "not-an-execution-context", "Not a RemoteExecutionContext.") from None
    ids: list[str] = []
    duplicate = False
    try:
        orgs = deps.orgs(location.partner_id, location.region)
        if not org.proven:
            # The first delivery carrying the org's own id proves it (403/409 otherwise), then counts.
            dataverse = ActionContext(Actor("dataverse", org.id), call.request_id)
            org = orgs.prove(org, context.organization_id, dataverse)
        planned = plan(location, orgs.active_rules(org.id), context, raw)
        service = deps.notifications(location.partner_id, location.region)
        for new in planned:
            notification_id, created = service.accept(new)
            ids.append(notification_id)
            duplicate = duplicate or not created
    except AzureError as error:
        raise _storage_trouble(error) from None
    log.debug(
        "webhook org=%s entity=%s message=%s notifications=%d duplicate=%s size_exceeded=%s",
        org.id, context.entity, context.message, len(ids), duplicate, context.size_exceeded,
    )  # fmt: skip
    base = f"/api/partners/{location.partner_id}/orgs/{org.id}/notifications"
    return Accepted(
        WebhookAccepted(accepted=len(ids), notification_ids=ids, duplicate=duplicate),
        f"{base}/{ids[0]}" if ids else base,
    )


# --- devices ----------------------------------------------------------------------------------------


def device_key_auth(call: Call) -> tuple[OrgLocation, Org]:
    """The org the device key (a public identifier) names, proven; its rate limit counted."""
    from azure.core.exceptions import AzureError

    enrolment = deps.device_enrolment()
    try:
        location, org = enrolment.authenticate(_org_id(call), call.header("x-device-key"))
        enrolment.throttle(location, org)
    except AzureError as error:
        raise _storage_trouble(error) from None
    return location, org


@endpoint(
    bp,
    "orgs/{orgId:guid}/devices",
    methods=["POST"],
    summary="Register a browser or app for push (token or fid) for the Dynamics user whose Entra ID "
    "token comes with it; the device secret is in this response only.",
    tag="devices",
    auth=device_key_auth,
    security=DEVICE_REGISTRATION_SECURITY,
)
def register_device(call: Call, body: DeviceIn) -> Created[DeviceCreated]:
    location, org = call.principal
    created = deps.device_enrolment().register(location, org, credentials_of(call).bearer, body)
    return Created(created, f"/api/orgs/{location.org_id}/devices/{created.id}")


def device_or_partner_auth(call: Call) -> tuple[OrgLocation, ActionContext]:
    """The device's own secret, or a credential of the partner that owns the org (which can do more)."""
    org_id = _org_id(call)
    location = deps.org_directory().locate(org_id)
    if location is None:
        raise unauthenticated("Unknown organisation or wrong credential.")
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
    ip = anonymise_ip(call.header("x-forwarded-for"))
    return location, ActionContext(actor, call.request_id, ip)


@endpoint(
    bp,
    "orgs/{orgId:guid}/devices/{deviceId}",
    methods=["DELETE"],
    summary="Unsubscribe a device: it stops receiving at once (device secret, or the partner's credential).",
    tag="devices",
    auth=device_or_partner_auth,
    security=(*DEVICE_SECRET_SECURITY, *PARTNER_SECURITY),
)
def unregister_device(call: Call) -> NoContent:
    location, action = call.principal
    device_id = call.route["deviceId"]
    deps.devices(location.region).unsubscribe(location.org_id, device_id)
    account = deps.storage().region(location.region)
    from shared.audit.log import AuditLog

    try:
        tenant_id = deps.orgs(location.partner_id, location.region).get(location.org_id).tenant_id
    except ProblemError:
        tenant_id = None  # the org went meanwhile: a partner-level event
    action.record(
        AuditLog(account, deps.clock()),
        location.partner_id,
        "device.unsubscribed",
        {"type": "device", "id": device_id, "orgId": location.org_id},
        tenant_id=tenant_id,
    )
    return NoContent()


def device_secret_auth(call: Call) -> tuple[OrgLocation, str]:
    from shared.notifications.secrets import parse_device_secret

    secret = call.header("x-device-secret") or ""
    parsed = parse_device_secret(secret)
    if parsed is None:
        raise unauthenticated("The device secret is missing or malformed.")
    location = deps.org_directory().locate(parsed.org_id)
    if location is None:
        raise unauthenticated("The device secret is not valid.")
    deps.devices(location.region).check_secret(parsed.org_id, parsed.device_id, secret)
    return location, parsed.device_id


@endpoint(
    bp,
    "notifications/{notificationId}/delivered",
    methods=["POST"],
    summary="A device acknowledges that it showed a notification (device secret).",
    tag="devices",
    auth=device_secret_auth,
    security=DEVICE_SECRET_SECURITY,
)
def acknowledge_delivery(call: Call, body: DeliveredIn) -> DeliveredOut:
    location, device_id = call.principal
    service = deps.notifications(location.partner_id, location.region)
    return service.delivered(call.route["notificationId"], device_id, body.delivered_at)


# --- the fan-out queue, one trigger per region ------------------------------------------------------


def _fanout_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        deps.fanout(region).handle_message(msg.get_body())

    run.__name__ = run.__qualname__ = f"notify_fanout_{region}"
    bp.function_name(name=f"notify_fanout_{region}")(
        bp.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=region_storage_setting(region))(run)
    )


for _region in get_settings().regions:
    _fanout_handler(_region)
