"""Clock-moved retention of the alerts area: subscriptions and open conditions go with the partner,
the delivery log 30 days after each alert, notices 90 days after they end. A private Azurite: the
sweeps see only what these tests made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions import deps
from shared.alerts.delivery import TABLE as DELIVERIES
from shared.alerts.notices import TABLE as NOTICES
from shared.alerts.retention import DeliveryLog, PastNotices
from shared.alerts.routing import CONDITIONS
from shared.alerts.subscriptions import TABLE as SUBSCRIPTIONS
from shared.clock import isoformat
from shared.privacy.retention import RetentionRegistry, RetentionRule, RetentionSweeper
from shared.storage import tables
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import terminated_partner

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def app_rule(name: str) -> RetentionRule:
    return next(rule for rule in deps.retention_registry().rules() if rule.name == name)


def sweep(router: StorageRouter, at: datetime, *rules: RetentionRule) -> dict[str, int]:
    registry = RetentionRegistry(rules or deps.retention_registry().rules())
    gone: dict[str, int] = {}
    for _ in range(50):
        report = RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60).sweep("eu")
        for name, count in report.per_rule.items():
            gone[name] = gone.get(name, 0) + count
        if report.complete:
            return gone
    raise AssertionError("the sweep never completed")


def _exists(table: Any, partition: str, row: str) -> bool:
    return tables.get(table, partition, row) is not None


def test_the_delivery_log_goes_30_days_after_each_alert(router: StorageRouter) -> None:
    rule = app_rule(DeliveryLog.name)
    table = router.region("eu").table(DELIVERIES)
    made = datetime(2031, 3, 1, tzinfo=UTC)
    subscription = str(uuid.uuid4())
    for day, row in ((0, "old"), (10, "new")):
        table.create_entity(
            {
                "PartitionKey": subscription,
                "RowKey": row,
                "createdAt": isoformat(made + day * DAY),
                "state": "delivered",
            }
        )
    assert sweep(router, made + 30 * DAY - DAY, rule) == {}
    gone = sweep(router, made + 30 * DAY + DAY, rule)
    assert gone == {rule.name: 1}
    assert not _exists(table, subscription, "old") and _exists(table, subscription, "new")
    assert sweep(router, made + 30 * DAY + DAY, rule) == {}


def test_subscriptions_and_conditions_go_with_the_partner(router: StorageRouter) -> None:
    clock = MovableClock(datetime(1990, 1, 10, tzinfo=UTC))
    partner = terminated_partner(router, clock)
    schedule = partner.subscription.deletion_schedule
    assert schedule is not None
    account = router.region("eu")
    subscriptions, conditions = account.table(SUBSCRIPTIONS), account.table(CONDITIONS)
    subscriptions.create_entity({"PartitionKey": partner.id, "RowKey": "s1", "channel": "webhook"})
    conditions.create_entity({"PartitionKey": partner.id, "RowKey": "c1", "alertType": "tenant.access.lost"})
    rules = (app_rule("alertsubscriptions.rows"), app_rule("alertconditions.rows"))
    sweep(router, min(schedule.end_user_data_at, schedule.personnel_data_at) - DAY, *rules)
    assert _exists(subscriptions, partner.id, "s1") and _exists(conditions, partner.id, "c1")
    sweep(router, schedule.end_user_data_at + DAY, *rules)
    assert not _exists(conditions, partner.id, "c1")
    sweep(router, schedule.personnel_data_at + DAY, *rules)
    assert not _exists(subscriptions, partner.id, "s1")
    assert sweep(router, schedule.personnel_data_at + DAY, *rules) == {}


def test_notices_go_90_days_after_they_end(router: StorageRouter) -> None:
    rule = app_rule(PastNotices.name)
    table = router.control.table(NOTICES)
    ended = datetime(2032, 5, 1, tzinfo=UTC)
    notice = f"n{uuid.uuid4().hex}"
    table.create_entity(
        {
            "PartitionKey": "notice",
            "RowKey": notice,
            "startsAt": isoformat(ended - DAY),
            "endsAt": isoformat(ended),
        }
    )
    assert sweep(router, ended + 90 * DAY - DAY, rule) == {}
    assert sweep(router, ended + 90 * DAY + DAY, rule) == {rule.name: 1}
    assert not _exists(table, "notice", notice)
