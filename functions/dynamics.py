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
from shared.access.principals import Actor, OperatorCaller, Scope
from shared.audit.context import ActionContext
from shared.audit.ip import anonymise_ip
from shared.errors import ProblemError, not_found, service_unavailable, unauthenticated
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
DEVICE_KEY_SECURITY = ("deviceKey",)
DEVICE_SECRET_SECURITY = ("deviceSecret",)


def _org_id(call: Call) -> str:
    try:
        return str(uuid.UUID(call.route.get("orgId", ""))).lower()
    except ValueError:
        raise not_found("No such organisation.") from None


def _base_url(call: Call) -> str:
    parts = urlsplit(call.request.url)
    return f"{parts.scheme}://{parts.netloc}"


def _orgs(context: PartnerContext) -> Any:
    return deps.orgs(context.partner.id, context.partner.region)


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
    orgs, token = _orgs(partner_context(call)).list_orgs(query.top, query.continuation_token)
    return OrgList(items=[o.view(_base_url(call)) for o in orgs], continuation_token=token)


@endpoint(
    bp, _ORG, methods=["GET"], summary="One organisation (never its secrets).", tag="dynamics",
    auth=partner_access(Scope.READ), security=PARTNER_SECURITY,
)  # fmt: skip
def get_org(call: Call) -> OrgOut:
    org: Org = _orgs(partner_context(call)).get(_org_id(call))
    return org.view(_base_url(call))


@endpoint(
    bp, _ORG, methods=["PATCH"], summary="Change an organisation's details or webhook authentication type.",
    tag="dynamics", auth=partner_access(Scope.WRITE, write=True), security=PARTNER_SECURITY,
)  # fmt: skip
def update_org(call: Call, body: OrgPatch) -> OrgOut:
    context = partner_context(call)
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
    org: Org = _orgs(context).get(_org_id(call))
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


def _locate(org_id: str) -> tuple[OrgLocation, Org]:
    """The org by id alone (directory, then its row, remembered a few seconds); 401 when unknown."""
    location = deps.org_directory().locate(org_id)
    if location is None:
        raise unauthenticated("Unknown organisation or wrong credential.")
    try:
        org: Org = deps.orgs(location.partner_id, location.region).authenticating(org_id)
    except ProblemError:
        raise unauthenticated("Unknown organisation or wrong credential.") from None
    return location, org


def _storage_trouble(error: Exception) -> ProblemError:
    log.warning("webhook storage call failed: %s", type(error).__name__)
    # Dataverse retries a 503 once; a 500 it would not.
    return service_unavailable("Storage did not answer; Dataverse retries this delivery.")


def webhook_auth(call: Call) -> tuple[OrgLocation, Org]:
    from azure.core.exceptions import AzureError

    from shared.notifications.webhook import check_webhook_secret

    try:
        location, org = _locate(_org_id(call))
    except AzureError as error:
        raise _storage_trouble(error) from None
    headers = {k.lower(): v for k, v in call.request.headers.items()}
    pepper = deps.settings().api_key_pepper.get_secret_value()
    check_webhook_secret(org, call.request.params.get("code"), headers, pepper)
    return location, org


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


def device_key_auth(call: Call) -> OrgLocation:
    from shared.notifications.secrets import key_matches

    location, org = _locate(_org_id(call))
    given = call.header("x-device-key") or ""
    if not given or not key_matches(
        given, org.device_key_hash, deps.settings().api_key_pepper.get_secret_value()
    ):
        raise unauthenticated("The device key is missing or wrong.")
    return location


@endpoint(
    bp,
    "orgs/{orgId:guid}/devices",
    methods=["POST"],
    summary="Register a browser or app for push (token or fid); the device secret is in this response only.",
    tag="devices",
    auth=device_key_auth,
    security=DEVICE_KEY_SECURITY,
)
def register_device(call: Call, body: DeviceIn) -> Created[DeviceCreated]:
    location: OrgLocation = call.principal
    created, _ = deps.devices(location.region).register(location.org_id, body)
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

    action.record(
        AuditLog(account, deps.clock()),
        location.partner_id,
        "device.unsubscribed",
        {"type": "device", "id": device_id, "orgId": location.org_id},
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
