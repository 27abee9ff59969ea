"""Retention of the alerts area: subscriptions and open conditions go with the partner, the delivery
log 30 days after each alert (queue messages end at their time-to-live: `shared/privacy/lifetimes.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from shared.alerts.delivery import TABLE as DELIVERIES
from shared.alerts.notices import TABLE as NOTICES
from shared.alerts.routing import CONDITIONS
from shared.alerts.subscriptions import TABLE as SUBSCRIPTIONS
from shared.clock import isoformat
from shared.privacy.retention import (
    CONFIGURATION,
    PERSONNEL,
    Candidate,
    PartitionRows,
    RetentionRule,
    SweepScope,
    delete_row,
    end_user_data_at,
    personnel_data_at,
)
from shared.storage import tables

DELIVERY_LOG_DAYS = 30
NOTICE_DAYS = 90
_TEST = "tests/integration/test_alert_retention.py::"


class DeliveryLog:
    """Each delivery row goes 30 days after it was made, whatever its subscription's fate."""

    name = "alertdeliveries.age"
    covers = (DELIVERIES,)
    tested_by = _TEST + "test_the_delivery_log_goes_30_days_after_each_alert"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = isoformat(scope.as_of - timedelta(days=DELIVERY_LOG_DAYS))
        rows = scope.account.table(DELIVERIES).query_entities(
            f"createdAt lt {tables.literal(cutoff)}", select=["PartitionKey", "RowKey"]
        )
        for row in sorted(f"{r['PartitionKey']}|{r['RowKey']}" for r in rows):
            if after is None or row > after:
                yield Candidate(row, CONFIGURATION, tuple(row.split("|", 1)))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        partition, row = candidate.ref
        return delete_row(scope.account.table(DELIVERIES), partition, row)


class PastNotices:
    """A notice goes 90 days after its window ended (or the change took effect): the control
    account's rows, found by whichever region's sweep comes first."""

    name = "notices.past"
    covers = (NOTICES,)
    tested_by = _TEST + "test_notices_go_90_days_after_they_end"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = isoformat(scope.as_of - timedelta(days=NOTICE_DAYS))
        for row in scope.router.control.table(NOTICES).query_entities("PartitionKey eq 'notice'"):
            if str(row.get("endsAt") or row["startsAt"]) < cutoff and (
                after is None or row["RowKey"] > after
            ):
                yield Candidate(str(row["RowKey"]), CONFIGURATION, str(row["RowKey"]))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        return delete_row(scope.router.control.table(NOTICES), "notice", str(candidate.ref))


def alert_rules() -> list[RetentionRule]:
    rules: list[Any] = [
        PartitionRows(
            "alertsubscriptions.rows",
            SUBSCRIPTIONS,
            PERSONNEL,
            personnel_data_at,
            tested_by=_TEST + "test_subscriptions_and_conditions_go_with_the_partner",
        ),
        PartitionRows(
            "alertconditions.rows",
            CONDITIONS,
            CONFIGURATION,
            end_user_data_at,
            tested_by=_TEST + "test_subscriptions_and_conditions_go_with_the_partner",
        ),
        DeliveryLog(),
        PastNotices(),
    ]
    return rules
