"""From a recorded event to deliveries: run the rules, keep each condition alerting once until it
clears, and give every matching subscription one delivery (a row, and a queue message of ids).

The event is read where the audit log wrote it; the alert's content travels in the delivery row,
never in the queue. Ids are derived from the event, so running one event twice (the queue is
at-least-once) finds its rows already there instead of alerting twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ulid import ULID

from shared.alerts.delivery import TABLE as DELIVERIES
from shared.alerts.delivery import Dispatch, queue_dispatch
from shared.alerts.models import DELIVERY_QUEUE, RETRY_QUEUE, DeliveryMessage, DeliveryState, EventMessage
from shared.alerts.rules import UNASSIGNED_LICENCES, Alert, evaluate, matches
from shared.alerts.subscriptions import Subscription, SubscriptionStore
from shared.audit.log import AuditLog, opened
from shared.clock import Clock, isoformat, parse_iso
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

CONDITIONS = "alertconditions"


def derived_id(moment: datetime, *parts: str) -> str:
    """A ULID with the moment's time and randomness derived from `parts`: the same parts, the same id."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()[:10]
    millis = int(moment.timestamp() * 1000)
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest))


def condition_key(condition: str) -> str:
    return hashlib.sha256(condition.encode()).hexdigest()[:32]


def alert_payload(partner_id: str, alert: Alert, alert_id: str) -> dict[str, Any]:
    return {
        "alertId": alert_id,
        "type": alert.type,
        "severity": alert.severity.value,
        "title": alert.title,
        "summary": alert.summary,
        "partnerId": partner_id,
        "tenantId": alert.tenant_id,
        "since": alert.since,
        "link": alert.link,
        "eventId": alert.event_id,
        "details": alert.details,
    }


class AlertRouter:
    """Routes the events of one region's partners."""

    def __init__(
        self,
        account: AccountStorage,
        clock: Clock,
        subscriptions: Callable[[str], SubscriptionStore],
        group_members: Callable[[str], dict[str, frozenset[str]]],
        *,
        dispatch: Dispatch | None = None,
    ):
        self.account = account
        self.clock = clock
        self.subscriptions = subscriptions
        self.group_members = group_members
        self.dispatch = dispatch or queue_dispatch(account)

    def route_event(self, message: EventMessage) -> int:
        """Returns how many deliveries the event made (0 when it alerts nobody, or ran before)."""
        entity = tables.get(self.account.table(message.bucket), message.partner_id, message.row_key)
        if entity is None:
            return 0
        # A role holder's id is sealed under their key (erasure shreds it); the rules need it open.
        [event] = opened(AuditLog(self.account, self.clock), message.partner_id, [entity])
        return self.route(message.partner_id, event)

    def route(self, partner_id: str, event: dict[str, Any]) -> int:
        evaluation = evaluate(partner_id, event)
        conditions = self.account.table(CONDITIONS)
        for cleared in evaluation.clears:
            tables.delete(conditions, partner_id, condition_key(cleared))
        if not evaluation.alerts:
            return 0
        store = self.subscriptions(partner_id)
        active = [store.open(r) for r in store.list_rows() if r["state"] == "active"]
        members: dict[str, frozenset[str]] | None = None
        made = 0
        for alert in evaluation.alerts:
            if alert.condition is not None and not self._first_time(partner_id, alert, alert.condition):
                continue
            alert_id = derived_id(parse_iso(alert.since), alert.event_id, alert.type, alert.condition or "")
            payload = alert_payload(partner_id, alert, alert_id)
            for subscription in active:
                if subscription.scope is not None and subscription.scope.groups and members is None:
                    members = self.group_members(partner_id)
                if not _wants(subscription, alert, members or {}):
                    continue
                made += self._deliver(subscription, alert, alert_id, payload)
        return made

    def _first_time(self, partner_id: str, alert: Alert, condition: str) -> bool:
        """Opens the condition; False when it is open already (from an earlier event than this one)."""
        table = self.account.table(CONDITIONS)
        row = {
            "PartitionKey": partner_id,
            "RowKey": condition_key(condition),
            "alertType": alert.type,
            "tenantId": alert.tenant_id or "",
            "eventId": alert.event_id,
            "since": alert.since,
        }
        if tables.write_each(table, [("create", row)], tolerate=(409,))[0]:
            return True
        existing = tables.get(table, partner_id, str(row["RowKey"]))
        # The same event again (a redelivered queue message) carries on where it stopped.
        return existing is None or existing.get("eventId") == alert.event_id

    def _deliver(
        self, subscription: Subscription, alert: Alert, alert_id: str, payload: dict[str, Any]
    ) -> int:
        delivery_id = derived_id(parse_iso(alert.since), alert_id, subscription.id)
        digest = subscription.digest
        row = {
            "PartitionKey": subscription.id,
            "RowKey": delivery_id,
            "partnerId": subscription.partner_id,
            "alertId": alert_id,
            "alertType": alert.type,
            "severity": alert.severity.value,
            "tenantId": alert.tenant_id or "",
            "eventId": alert.event_id,
            "eventAt": alert.since,
            "title": alert.title,
            "payload": json.dumps(payload, sort_keys=True, default=str),
            "state": (DeliveryState.DIGEST if digest else DeliveryState.PENDING).value,
            "attempts": 0,
            "createdAt": isoformat(self.clock.now()),
            "history": "[]",
        }
        table = self.account.table(DELIVERIES)
        if not tables.write_each(table, [("create", row)], tolerate=(409,))[0]:
            existing = tables.get(table, subscription.id, delivery_id)
            if (
                existing is None
                or existing["state"] != DeliveryState.PENDING.value
                or int(existing["attempts"])
            ):
                return 0  # made and under way already
        if not digest:
            queue = RETRY_QUEUE if subscription.failing else DELIVERY_QUEUE
            message = DeliveryMessage(
                partner_id=subscription.partner_id,
                subscription_id=subscription.id,
                delivery_id=delivery_id,
                attempt=1,
            )
            self.dispatch(queue, message, 0)
        return 1


def _wants(subscription: Subscription, alert: Alert, members: dict[str, frozenset[str]]) -> bool:
    if not matches(subscription.event_types, alert.type):
        return False
    if alert.severity.rank < subscription.min_severity.rank:
        return False
    if alert.type == UNASSIGNED_LICENCES:
        grown = int(alert.details.get("newlyUnassigned") or 0)
        if grown <= subscription.unassigned_licences_threshold:
            return False
    if subscription.scope is None:
        return True
    # A subscription limited to some tenants never hears of another tenant, nor of partner-wide alerts.
    return alert.tenant_id is not None and subscription.scope.allows(alert.tenant_id, members)
