"""Usage counters against Azurite: concurrent increments are all counted, peaks keep the maximum."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from shared.ids import new_id
from shared.storage.router import StorageRouter
from shared.usage import BufferedUsage, Unit, UsageMeter
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


class HeldMeter(UsageMeter):
    """A meter whose first write is slow: it waits (at most 2 s) for a reader's flush to return."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writing = threading.Event()
        self.reader_returned = threading.Event()

    def add(self, partner_id: str, unit: Unit, amount: int = 1, month: str | None = None) -> None:
        if not self.writing.is_set():
            self.writing.set()
            self.reader_returned.wait(timeout=2)
        super().add(partner_id, unit, amount, month)


def test_a_reads_flush_waits_for_the_background_flush_already_writing(router: StorageRouter) -> None:
    meter = HeldMeter(router.region("eu"), MovableClock(datetime(2026, 11, 30, 23, 0, tzinfo=UTC)))
    buffered, partner = BufferedUsage(interval=3600), new_id()
    for _ in range(3):
        buffered.add(meter, partner, Unit.API_CALLS)
    background = threading.Thread(target=buffered.flush)  # the interval's flush, mid-write
    background.start()
    meter.writing.wait(timeout=10)
    buffered.add(meter, partner, Unit.API_CALLS)  # the read's own call
    buffered.flush()  # what a usage read does first
    seen = meter.month(partner, "2026-11")["apiCalls"]
    meter.reader_returned.set()
    background.join(timeout=10)
    assert seen == 4  # had the read's flush not waited, it would have seen its own 1
