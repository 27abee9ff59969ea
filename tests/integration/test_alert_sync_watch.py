"""The watches under a moved clock: a tenant whose syncs have failed for 24 hours alerts once and
clears when a sync succeeds again; an open data-subject request alerts once 2 days before it is due.
A private Azurite: the watches read every tenant and request of the region."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from functions import deps
from shared.alerts.routing import AlertRouter
from shared.alerts.rules import evaluate
from shared.alerts.subscriptions import SubscriptionStore
from shared.alerts.sync_watch import RequestDueWatch, SyncWatch
from shared.audit.log import AuditLog, iter_all
from shared.clock import isoformat
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock


def test_a_tenant_failing_for_a_day_alerts_once_and_clears_on_success(private_router: StorageRouter) -> None:
    account = private_router.region("eu")
    clock = MovableClock(datetime(2033, 3, 1, 12, tzinfo=UTC))
    partner, tenant = f"p{uuid.uuid4().hex[:12]}", str(uuid.uuid4())
    tenants = account.table("tenants")
    row = {"PartitionKey": partner, "RowKey": tenant, "status": "active", "lastSyncState": "failed"}
    tenants.create_entity({**row, "lastSuccessAt": isoformat(clock.now() - timedelta(hours=23))})
    watch = SyncWatch(account, clock)
    log = AuditLog(account, clock)
    router = AlertRouter(
        account,
        clock,
        lambda p: SubscriptionStore(account, p, clock, deps.token_cipher()),
        lambda p: {},
        dispatch=lambda q, m, d: None,
    )

    def events() -> list[dict[str, object]]:
        return [e for e in iter_all(log, partner) if e["action"].startswith("tenant.sync.")]

    assert watch.check_syncs() == (0, 0)  # failing for 23 hours: not yet
    clock.moment += timedelta(hours=2)
    assert watch.check_syncs() == (1, 0)
    [failing] = events()
    assert failing["action"] == "tenant.sync.failing" and failing["tenantId"] == tenant
    router.route(partner, failing)  # as the alertevents queue would: the condition opens
    clock.moment += timedelta(hours=1)
    assert watch.check_syncs() == (0, 0)  # still failing: alerted once, not every hour
    tenants.update_entity({"PartitionKey": partner, "RowKey": tenant, "lastSyncState": "succeeded"})
    assert watch.check_syncs() == (0, 1)
    recovered = events()[0]
    assert recovered["action"] == "tenant.sync.recovered"
    router.route(partner, recovered)
    assert watch.check_syncs() == (0, 0)


def test_an_open_request_alerts_once_two_days_before_it_is_due(private_router: StorageRouter) -> None:
    account = private_router.region("eu")
    clock = MovableClock(datetime(2033, 4, 1, 12, tzinfo=UTC))
    partner, request, done = (
        f"p{uuid.uuid4().hex[:12]}",
        "01JREQUEST00000000000000AA",
        "01JREQUEST00000000000000BB",
    )
    due = isoformat(clock.now() + timedelta(days=3))
    rows = account.table("privacyrequests")
    rows.create_entity(
        {"PartitionKey": partner, "RowKey": request, "state": "approved", "dueAt": due, "type": "access"}
    )
    rows.create_entity(
        {"PartitionKey": partner, "RowKey": done, "state": "completed", "dueAt": due, "type": "access"}
    )
    watch = RequestDueWatch(account, clock)
    router = AlertRouter(
        account,
        clock,
        lambda p: SubscriptionStore(account, p, clock, deps.token_cipher()),
        lambda p: {},
        dispatch=lambda q, m, d: None,
    )
    assert watch.check_requests() == 0  # 3 days left
    clock.moment += timedelta(days=1, minutes=1)
    assert watch.check_requests() == 1  # the completed one is nobody's worry
    [event] = [
        e for e in iter_all(AuditLog(account, clock), partner) if e["action"] == "privacy.request.dueIn2Days"
    ]
    assert event["target"]["id"] == request
    [alert] = evaluate(partner, event).alerts
    assert alert.title == "Data-subject request due in 2 days" and alert.link.endswith(request)
    router.route(partner, event)
    assert watch.check_requests() == 0  # once
