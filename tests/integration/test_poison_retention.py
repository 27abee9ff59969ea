"""Clock-moved retention of poison records: why a queue message was given up on is kept 30 days,
in a partner's partition or the system one. A private Azurite: the sweeps see only these rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions import deps
from shared.audit.poison import SYSTEM_PARTITION, TABLE
from shared.clock import isoformat
from shared.privacy.lifetimes import PoisonRecords
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.storage import tables
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def sweep(router: StorageRouter, at: datetime) -> dict[str, int]:
    rule = next(r for r in deps.retention_registry().rules() if r.name == PoisonRecords.name)
    report = RetentionSweeper(RetentionRegistry([rule]), router, MovableClock(at), budget_seconds=60).sweep(
        "eu"
    )
    assert report.complete
    return dict(report.per_rule)


def test_poison_records_go_30_days_after_they_were_made(router: StorageRouter) -> None:
    table = router.region("eu").table(TABLE)
    made = datetime(2033, 2, 1, tzinfo=UTC)
    partner = "01POISONPARTNER00000000000"
    rows = {
        (partner, f"tenantsync~{uuid.uuid4()}"): made,
        (SYSTEM_PARTITION, f"alertsend~{uuid.uuid4()}"): made,
        (partner, f"notifyfanout~{uuid.uuid4()}"): made + 10 * DAY,
    }
    for (partition, row), at in rows.items():
        table.create_entity(
            {"PartitionKey": partition, "RowKey": row, "recordedAt": isoformat(at), "errorType": "X"}
        )
    assert sweep(router, made + 30 * DAY - DAY) == {}
    assert sweep(router, made + 30 * DAY + DAY) == {PoisonRecords.name: 2}
    left = {key for key in rows if tables.get(table, *key) is not None}
    assert left == {key for key, at in rows.items() if at == made + 10 * DAY}
    assert sweep(router, made + 30 * DAY + DAY) == {}
