"""Usage counters against Azurite: concurrent increments are all counted, peaks keep the maximum."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from shared.ids import new_id
from shared.storage.router import StorageRouter
from shared.usage import Unit, UsageMeter
from tests.clocks import MovableClock


def test_concurrent_counts_are_exact_and_months_separate(router: StorageRouter) -> None:
    clock = MovableClock(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    meter = UsageMeter(router.region("eu"), clock)
    partner = new_id()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: meter.add(partner, Unit.API_CALLS), range(200)))
    meter.peak(partner, Unit.TENANTS, 7)
    meter.peak(partner, Unit.TENANTS, 3)
    clock.moment = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    meter.add(partner, Unit.API_CALLS, 5)
    assert meter.month(partner, "2026-11") == {"apiCalls": 200, "tenants": 7, "notificationsSent": 0}
    assert meter.month(partner, "2026-12")["apiCalls"] == 5
    assert meter.month(new_id(), "2026-11")["apiCalls"] == 0
