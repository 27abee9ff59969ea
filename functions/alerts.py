"""Alert endpoints (subscriptions, their delivery log, re-sends) and the queues that route and deliver
alerts. Thin: each calls one method of shared/alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func
from pydantic import Field

from functions import deps
from functions.auth import PartnerContext, operator_only, partner_access
from functions.http import Accepted, Call, Created, NoContent, RouteParams, Ulid, endpoint
from functions.queues import queue_function
from shared.access.principals import Scope
from shared.alerts.models import (
    DELIVERY_QUEUE,
    EVENTS_QUEUE,
    RETRY_QUEUE,
    DeliveryList,
    DeliveryMessage,
    DeliveryOut,
    EventMessage,
    SecretRotated,
    SecretRotateIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionPatch,
)
from shared.alerts.notices import NoticeIn, NoticeList, NoticeOut
from shared.audit.context import ActionContext
from shared.models import PageQuery
from shared.settings import get_settings

log = logging.getLogger("tenantry.alerts")

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_SUBSCRIPTIONS = "partners/{partnerId}/alert-subscriptions"
_SUBSCRIPTION = _SUBSCRIPTIONS + "/{subscriptionId}"
_DELIVERY = _SUBSCRIPTION + "/deliveries/{deliveryId}"


class SubscriptionRoute(RouteParams):
    missing = "No such alert subscription."
    subscription_id: Ulid = Field(alias="subscriptionId")


class DeliveryRoute(SubscriptionRoute):
    missing_by_name = {"deliveryId": "No such delivery."}
    delivery_id: Ulid = Field(alias="deliveryId")


@endpoint(
    bp,
    _SUBSCRIPTIONS,
    methods=["POST"],
    idempotent=True,
    summary="Subscribe a webhook, a Teams channel or e-mail addresses to alerts (a secret shown once).",
    tag="alerts",
    auth=partner_access(Scope.WRITE),
)
def create_alert_subscription(
    call: Call, context: PartnerContext, body: SubscriptionIn
) -> Created[SubscriptionCreated]:
    created = deps.alerts(context.partner).create_subscription(body, context.action, context.reach)
    return Created(created, f"/api/partners/{context.partner.id}/alert-subscriptions/{created.id}")


@endpoint(
    bp,
    _SUBSCRIPTIONS,
    methods=["GET"],
    summary="The partner's alert subscriptions (those within the caller's reach).",
    tag="alerts",
    auth=partner_access(Scope.READ),
)
def list_alert_subscriptions(call: Call, context: PartnerContext) -> SubscriptionList:
    return deps.alerts(context.partner).list_subscriptions(context.reach)


@endpoint(
    bp,
    _SUBSCRIPTION,
    methods=["GET"],
    summary="One alert subscription.",
    tag="alerts",
    auth=partner_access(Scope.READ),
)
def get_alert_subscription(call: Call, context: PartnerContext, route: SubscriptionRoute) -> SubscriptionOut:
    return deps.alerts(context.partner).get_subscription(route.subscription_id, context.reach)


@endpoint(
    bp,
    _SUBSCRIPTION,
    methods=["PATCH"],
    summary="Change what a subscription hears, or turn it off and on again (`state`).",
    tag="alerts",
    auth=partner_access(Scope.WRITE),
)
def update_alert_subscription(
    call: Call, context: PartnerContext, body: SubscriptionPatch, route: SubscriptionRoute
) -> SubscriptionOut:
    return deps.alerts(context.partner).update_subscription(
        route.subscription_id, body, context.action, context.reach
    )


@endpoint(
    bp,
    _SUBSCRIPTION,
    methods=["DELETE"],
    summary="Delete an alert subscription: nothing more is sent to it.",
    tag="alerts",
    auth=partner_access(Scope.WRITE, allowed_when_read_only=True),
)
def delete_alert_subscription(call: Call, context: PartnerContext, route: SubscriptionRoute) -> NoContent:
    deps.alerts(context.partner).delete_subscription(route.subscription_id, context.action, context.reach)
    return NoContent()


@endpoint(
    bp,
    _SUBSCRIPTION + "/secret/rotate",
    methods=["POST"],
    summary="A new signing secret (shown once); the previous one keeps signing during the overlap.",
    tag="alerts",
    auth=partner_access(Scope.WRITE),
)
def rotate_alert_secret(
    call: Call, context: PartnerContext, body: SecretRotateIn, route: SubscriptionRoute
) -> SecretRotated:
    return deps.alerts(context.partner).rotate_secret(
        route.subscription_id, body, context.action, context.reach
    )


@endpoint(
    bp,
    _SUBSCRIPTION + "/deliveries",
    methods=["GET"],
    summary="The subscription's delivery log: state, attempts, latency, response codes (never a body).",
    tag="alerts",
    auth=partner_access(Scope.READ),
)
def list_alert_deliveries(
    call: Call, context: PartnerContext, query: PageQuery, route: SubscriptionRoute
) -> DeliveryList:
    return deps.alerts(context.partner).list_deliveries(
        route.subscription_id, context.reach, top=query.top, continuation=query.continuation_token
    )


@endpoint(
    bp,
    _DELIVERY,
    methods=["GET"],
    summary="One delivery with each attempt.",
    tag="alerts",
    auth=partner_access(Scope.READ),
)
def get_alert_delivery(call: Call, context: PartnerContext, route: DeliveryRoute) -> DeliveryOut:
    return deps.alerts(context.partner).get_delivery(route.subscription_id, route.delivery_id, context.reach)


@endpoint(
    bp,
    _DELIVERY + "/resend",
    methods=["POST"],
    summary="Send a finished delivery again (same webhook-id, a fresh retry schedule).",
    tag="alerts",
    auth=partner_access(Scope.WRITE),
)
def resend_alert_delivery(call: Call, context: PartnerContext, route: DeliveryRoute) -> Accepted[DeliveryOut]:
    delivery = deps.alerts(context.partner).resend_delivery(
        route.subscription_id, route.delivery_id, context.reach
    )
    return Accepted(delivery, _delivery_path(context, route))


# --- maintenance and policy notices ------------------------------------------------------------


@endpoint(
    bp,
    "operator/notices",
    methods=["POST"],
    idempotent=True,
    summary="Announce maintenance or a policy, price or sub-processor change (a month ahead; price 30 days).",
    tag="notices",
    auth=operator_only,
)
def create_notice(operator: ActionContext, body: NoticeIn) -> Created[NoticeOut]:
    notice = deps.notice_board().create_notice(body, operator)
    return Created(notice, "/api/notices")


@endpoint(
    bp,
    "notices",
    methods=["GET"],
    summary="Upcoming maintenance windows and policy, price or sub-processor changes.",
    tag="notices",
    # Public on purpose, as the sub-processor list: it is about Tenantry's service, no partner's data.
    auth=None,
)
def list_notices(call: Call) -> NoticeList:
    return deps.notice_board().list_notices()


@bp.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=False)
def notice_reminder_timer(timer: func.TimerRequest) -> None:
    """Reminds the affected partners of each notice whose reminder is due."""
    log.info("notice reminders sent: %d", deps.notice_board().send_reminders())


@bp.timer_trigger(arg_name="timer", schedule="0 0 7 * * *", run_on_startup=False)
def alert_digest_timer(timer: func.TimerRequest) -> None:
    """Once a day (07:00 UTC): each digest subscription's gathered alerts as one message."""
    for region in deps.settings().regions:
        log.info("alert digests queued in %s: %d", region, deps.alert_digests(region).send_digests())


@bp.timer_trigger(arg_name="timer", schedule="0 5 * * * *", run_on_startup=False)
def alert_sync_watch_timer(timer: func.TimerRequest) -> None:
    """Hourly: tenants whose syncs have failed for 24 hours (and those recovered), and data-subject
    requests due in 2 days, become events (and so alerts)."""
    for region in deps.settings().regions:
        failing, recovered = deps.sync_watch(region).check_syncs()
        log.info("sync watch in %s: %d failing for a day, %d recovered", region, failing, recovered)
        log.info("requests due in 2 days in %s: %d", region, deps.request_due_watch(region).check_requests())


def _delivery_path(context: PartnerContext, route: DeliveryRoute) -> str:
    subscription = f"/api/partners/{context.partner.id}/alert-subscriptions/{route.subscription_id}"
    return f"{subscription}/deliveries/{route.delivery_id}"


# --- queues: one trigger per region and queue ---------------------------------------------------


def _route_events(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        deps.alert_router(region).route_event(EventMessage.model_validate_json(msg.get_body()))

    _register(run, f"alert_events_{region}", EVENTS_QUEUE, region)


def _deliver(region: str, queue: str, name: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        deps.alert_runner(region).deliver(DeliveryMessage.model_validate_json(msg.get_body()))

    _register(run, name, queue, region)


def _register(run: Callable[[func.QueueMessage], None], name: str, queue: str, region: str) -> None:
    queue_function(bp, name, queue, region)(run)


for _region in get_settings().regions:
    _route_events(_region)
    # Retries (and failing subscriptions) have a queue of their own: they never wait in front of
    # healthy receivers' first attempts.
    _deliver(_region, DELIVERY_QUEUE, f"alert_deliveries_{_region}")
    _deliver(_region, RETRY_QUEUE, f"alert_retries_{_region}")
