"""The alert rules fed by their real producers (a tenant sync against the Graph stand-in, the fan-out's
completion) on real Azurite: a baseline check that passed and now fails alerts once until it clears,
licences newly unassigned alert only the subscriptions whose threshold they exceed, and a fan-out
with a high failure rate alerts once per notification.

Events are read back from the audit log and handed to the router here; ids derived from the event
make a second routing of the same event (the `alertevents` queue a local host may serve) a no-op.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from localdev.graph_tenant import generate_tenant
from localdev.proving import grant_gdap
from shared.access.reach import TenantReach
from shared.alerts.delivery import TABLE as DELIVERIES
from shared.alerts.destinations import OutboundPolicy, parse_ports
from shared.alerts.models import DeliveryMessage, SubscriptionIn
from shared.alerts.routing import AlertRouter
from shared.alerts.subscriptions import AlertSubscriptions, SubscriptionStore
from shared.audit.log import AuditLog, iter_all
from shared.notifications.devices import DeviceRegistry
from shared.notifications.fanout_store import FanoutStore
from shared.notifications.models import FanoutJob
from shared.notifications.records import NOTIFICATIONS
from shared.partners.service import Partner
from shared.storage import tables
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.models import TenantIn
from shared.tenants.service import TenantService
from tests.clocks import MovableClock
from tests.integration.rigs import ACTION, PEPPER, connected_partner, queued_sync, service_for

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]


@dataclass
class Alerts:
    """A partner's subscriptions and the router, with the deliveries the router queued."""

    partner_id: str
    account: AccountStorage
    subscriptions: AlertSubscriptions
    router: AlertRouter
    queued: list[DeliveryMessage] = field(default_factory=list)
    routed: set[str] = field(default_factory=set)

    def subscribe(self, event_types: list[str], **extra: Any) -> str:
        body = {"channel": "webhook", "url": "https://hooks.example/in", "eventTypes": event_types, **extra}
        return self.subscriptions.create_subscription(
            SubscriptionIn.model_validate(body), ACTION, TenantReach()
        ).id

    def route_new(self, action: str) -> list[dict[str, Any]]:
        """Routes the partner's events of `action` not routed yet (as the alertevents queue would)."""
        log = AuditLog(self.account, deps.clock())
        fresh = [
            e for e in iter_all(log, self.partner_id) if e["action"] == action and e["id"] not in self.routed
        ]
        for event in sorted(fresh, key=lambda e: str(e["id"])):
            self.routed.add(str(event["id"]))
            self.router.route(self.partner_id, event)
        return fresh

    def payloads(self, subscription_id: str) -> list[dict[str, Any]]:
        rows = tables.query(self.account.table(DELIVERIES), tables.partition(subscription_id))
        return [json.loads(str(r["payload"])) for r in rows]


def alerts_for(account: AccountStorage, partner_id: str) -> Alerts:
    clock = deps.clock()
    policy = OutboundPolicy(parse_ports(""), resolver=lambda host, port: ["20.1.2.3"])

    def store(partner: str) -> SubscriptionStore:
        return SubscriptionStore(account, partner, clock, deps.token_cipher())

    queued: list[DeliveryMessage] = []
    router = AlertRouter(account, clock, store, lambda p: {}, dispatch=lambda q, m, d: queued.append(m))
    subscriptions = AlertSubscriptions(store(partner_id), policy, AuditLog(account, clock))
    return Alerts(partner_id, account, subscriptions, router, queued)


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Alert Rules IT", tenant_limit=10)


def onboard_with_security_defaults(service: TenantService, control: StandinControl) -> str:
    """A tenant whose MFA baseline check passes through security defaults alone (no CA policies)."""
    tenant_id = next(
        t
        for t in (str(uuid.uuid4()) for _ in range(200))
        if generate_tenant(t, 20).security_defaults["isEnabled"]
    )
    control.put_tenant(tenant_id, 20)
    grant_gdap(control, service.partner.entra_tenant_id, tenant_id)
    service.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Fabrikam"), ACTION)
    service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    return tenant_id


def sync(service: TenantService, tenant_id: str) -> None:
    service.run_sync(tenant_id, service.request_sync(tenant_id, "manual", None).id, final_attempt=False)


def set_security_defaults(service: TenantService, tenant_id: str, enabled: bool) -> None:
    async def write() -> None:
        async with service.graph.writer(tenant_id, "graph-app") as writer:  # type: ignore[union-attr]
            await writer.set_security_defaults(enabled)

    asyncio.run(write())


def test_a_baseline_check_that_passed_and_now_fails_alerts_once_until_it_clears(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = onboard_with_security_defaults(service, control)
    checks = {c.id: c.state for c in service.get_baseline(tenant_id).checks}
    assert checks["mfaEnforced"] == "pass"
    alerts = alerts_for(service.account, partner.id)
    subscription = alerts.subscribe(["tenant.baseline.*"])

    set_security_defaults(service, tenant_id, False)
    sync(service, tenant_id)
    [event] = alerts.route_new("tenant.baseline.checkFailing")
    assert event["changes"]["mfaEnforced"] == {"before": "pass", "after": "fail"}
    [payload] = [p for p in alerts.payloads(subscription) if p["details"]["checkId"] == "mfaEnforced"]
    assert payload["tenantId"] == tenant_id and payload["since"] == event["at"]
    assert payload["title"].startswith("Baseline check now failing")
    assert payload["link"] == f"/api/partners/{partner.id}/tenants/{tenant_id}/baseline"
    delivered = len(alerts.payloads(subscription))

    # Still failing at the next sync: no event, nothing more delivered.
    sync(service, tenant_id)
    assert alerts.route_new("tenant.baseline.checkFailing") == []
    assert len(alerts.payloads(subscription)) == delivered

    # Passing again clears it, so failing once more is news again.
    set_security_defaults(service, tenant_id, True)
    sync(service, tenant_id)
    [cleared] = alerts.route_new("tenant.baseline.checkCleared")
    assert "mfaEnforced" in cleared["changes"]
    set_security_defaults(service, tenant_id, False)
    sync(service, tenant_id)
    assert alerts.route_new("tenant.baseline.checkFailing")
    mfa = [p for p in alerts.payloads(subscription) if p["details"]["checkId"] == "mfaEnforced"]
    assert len(mfa) == 2


def test_licences_newly_unassigned_alert_subscriptions_whose_threshold_they_exceed(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = onboard_with_security_defaults(service, control)
    alerts = alerts_for(service.account, partner.id)
    default = alerts.subscribe(["tenant.drift.licencesUnassigned"])  # threshold 5
    strict = alerts.subscribe(["tenant.drift.*"], unassignedLicencesThreshold=10)
    assert alerts.subscriptions.get_subscription(strict, TenantReach()).unassigned_licences_threshold == 10

    with service.graph.reader(tenant_id, "graph-app") as reader:  # type: ignore[union-attr]
        users = [u for page in reader.users_delta() for u in page.items]
    by_sku: dict[str, list[str]] = {}
    for user in users:
        for licence in user.assigned_licenses or []:
            by_sku.setdefault(str(licence.sku_id).lower(), []).append(user.id)
    sku, holders = max(by_sku.items(), key=lambda item: len(item[1]))
    assert len(holders) >= 7

    async def unassign(user_ids: list[str]) -> None:
        async with service.graph.writer(tenant_id, "graph-app") as writer:  # type: ignore[union-attr]
            for user_id in user_ids:
                await writer.assign_licences(user_id, remove=[sku])

    # Six licences left unassigned since the last sync: more than 5, not more than 10.
    asyncio.run(unassign(holders[:6]))
    sync(service, tenant_id)
    [event] = alerts.route_new("tenant.drift.licencesUnassigned")
    change = event["changes"][f"unassignedLicences/{sku}"]
    assert change["after"] - change["before"] == 6
    [payload] = alerts.payloads(default)
    assert payload["type"] == "tenant.drift.licencesUnassigned" and payload["tenantId"] == tenant_id
    assert payload["details"]["newlyUnassigned"] == 6 and "6 licences of" in payload["summary"]
    assert payload["link"] == f"/api/partners/{partner.id}/tenants/{tenant_id}/reports/licences"
    assert alerts.payloads(strict) == []

    # One more: not above the threshold, nobody hears of it.
    asyncio.run(unassign(holders[6:7]))
    sync(service, tenant_id)
    assert len(alerts.route_new("tenant.drift.licencesUnassigned")) == 1
    assert len(alerts.payloads(default)) == 1 and alerts.payloads(strict) == []


@pytest.fixture
def fanout(router: StorageRouter) -> Iterator[tuple[FanoutStore, Alerts]]:
    account = router.region("eu")
    clock = MovableClock(datetime.now(UTC))
    yield (
        FanoutStore(account, clock, DeviceRegistry(account, clock, deps.token_cipher(), PEPPER)),
        alerts_for(account, f"p{uuid.uuid4().hex[:12]}"),
    )


def complete(store: FanoutStore, partner_id: str, org_id: str, sent: int, failed: int) -> str:
    notification = str(uuid.uuid4())
    store.account.table(NOTIFICATIONS).create_entity(
        {
            "PartitionKey": org_id,
            "RowKey": notification,
            "state": "sending",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    )
    job = FanoutJob(partner_id=partner_id, org_id=org_id, notification_id=notification, payload="sealed")
    shards = [
        {"sent": sent // 2, "failed": failed // 2},
        {"sent": sent - sent // 2, "failed": failed - failed // 2},
    ]
    store.complete(job, shards)
    return notification


def test_a_fanout_with_a_high_failure_rate_alerts_once_per_notification(
    fanout: tuple[FanoutStore, Alerts],
) -> None:
    store, alerts = fanout
    org = str(uuid.uuid4())
    subscription = alerts.subscribe(["notification.*"])
    action = "notification.fanout.highFailureRate"

    complete(store, alerts.partner_id, org, sent=17, failed=3)  # 15 %
    complete(store, alerts.partner_id, org, sent=10, failed=9)  # 47 %, but of 19 devices
    assert alerts.route_new(action) == []

    failing = complete(store, alerts.partner_id, org, sent=15, failed=5)  # 25 % of 20
    [event] = alerts.route_new(action)
    assert event["details"] == {"orgId": org, "sent": 15, "failed": 5}
    [payload] = alerts.payloads(subscription)
    assert payload["link"] == f"/api/partners/{alerts.partner_id}/orgs/{org}/notifications/{failing}"
    assert "5 of 20 devices (25 %)" in payload["summary"] and payload["since"] == event["at"]

    # The planner and the last shard may both complete it: the second event alerts nobody.
    job = FanoutJob(partner_id=alerts.partner_id, org_id=org, notification_id=failing, payload="sealed")
    store.complete(job, [{"sent": 15, "failed": 5}])
    assert len(alerts.route_new(action)) == 1
    assert len(alerts.payloads(subscription)) == 1
