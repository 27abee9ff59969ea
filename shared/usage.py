"""Usage metering: billable units per partner per calendar month, on sharded counters.

A partner's requests all count, so one counter row would serialise them. Each unit is spread
over `SHARDS` rows; an increment picks one at random and updates it under its ETag (retrying on
a conflict), and a read sums the shards. Areas meter through `UsageMeter.add` (counters, e.g. API
calls, notifications sent) or `UsageMeter.peak` (high-water marks, e.g. tenants under management).
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.clock import Clock
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.usage")

SHARDS = 16
TABLE = "usage"


class Unit(StrEnum):
    API_CALLS = "apiCalls"
    TENANTS = "tenants"
    NOTIFICATIONS_SENT = "notificationsSent"


PEAK_UNITS = frozenset({Unit.TENANTS})


def month_of(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


class UsageMeter:
    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def _partition(self, partner_id: str, month: str) -> str:
        return f"{partner_id}-{month}"

    def add(self, partner_id: str, unit: Unit, amount: int = 1, month: str | None = None) -> None:
        shard = random.randrange(SHARDS)  # noqa: S311 - spreading load, not secrecy
        self._update(partner_id, unit, lambda current: current + amount, shard, month)

    def peak(self, partner_id: str, unit: Unit, value: int) -> None:
        """Records `value` if it is the month's highest so far (one row: peaks are rare writes)."""
        self._update(partner_id, unit, lambda current: max(current, value), 0)

    def _update(self, partner_id: str, unit: Unit, change: Any, shard: int, month: str | None = None) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        table = self.account.table(TABLE)
        key = self._partition(partner_id, month or month_of(self.clock.now()))
        row = f"{unit.value}-{shard:02d}"
        for _ in range(50):
            entity = tables.get(table, key, row)
            if entity is None:
                try:
                    table.create_entity({"PartitionKey": key, "RowKey": row, "count": change(0)})
                    return
                except ResourceExistsError:
                    continue
            entity["count"] = change(int(entity["count"]))
            try:
                table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=entity.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except HttpResponseError as error:
                if error.status_code != 412:
                    raise
        raise RuntimeError(f"usage counter {key}/{row} stayed contended")

    def month(self, partner_id: str, month: str) -> dict[str, int]:
        table = self.account.table(TABLE)
        totals = {unit.value: 0 for unit in Unit}
        for entity in tables.query(table, tables.partition(self._partition(partner_id, month))):
            unit = str(entity["RowKey"]).rsplit("-", 1)[0]
            if unit in totals:
                count = int(entity["count"])
                totals[unit] = max(totals[unit], count) if unit in PEAK_UNITS else totals[unit] + count
        return totals


class BufferedUsage:
    """Counts very frequent units (API calls) in memory and adds them to the counters in the
    background every `interval` seconds, so a request costs no storage round trip for metering.

    The trade-off, stated: if an instance is killed, at most its last `interval` seconds of
    counts are lost; everything that is not per-request (tenants, notifications) is written
    through `UsageMeter` directly and is exact. Reads call `flush` first, so an instance always
    sees its own counts.
    """

    def __init__(self, interval: float = 2.0):
        self.interval = interval
        self._lock = threading.Lock()
        # One flush at a time: a read's flush must not return while the background one still
        # writes counts it already took (the read would miss them).
        self._flushing = threading.Lock()
        self._pending: dict[tuple[int, str, Unit, str], int] = {}
        self._meters: dict[int, UsageMeter] = {}
        self._thread: threading.Thread | None = None

    def add(self, meter: UsageMeter, partner_id: str, unit: Unit, amount: int = 1) -> None:
        key = (id(meter), partner_id, unit, month_of(meter.clock.now()))
        with self._lock:
            self._meters[id(meter)] = meter
            self._pending[key] = self._pending.get(key, 0) + amount
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    def flush(self) -> None:
        with self._flushing:
            with self._lock:
                pending, self._pending = self._pending, {}
            for (meter_id, partner_id, unit, month), amount in pending.items():
                try:
                    self._meters[meter_id].add(partner_id, unit, amount, month)
                except Exception:
                    log.exception("usage flush failed; keeping %d %s for the next flush", amount, unit.value)
                    with self._lock:
                        key = (meter_id, partner_id, unit, month)
                        self._pending[key] = self._pending.get(key, 0) + amount

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()
