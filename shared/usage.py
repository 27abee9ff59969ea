"""Usage metering: every billable unit is a row keyed by its unit of work, written before the work counts.

A row per unit of work (an API call's request id, a notification's shard, a device's id, a
data-subject request's id, a partner's day) makes the meter durable and idempotent at once: the
row is stored before the work is acknowledged, so a killed instance loses nothing it answered, and
a retried piece of work writes the same row again, so it counts once. Totals are sums over a
partner's rows of a month (one partition), read when a month or a billing period is asked for.

Writes that arrive together for one partner-month go out as one entity-group transaction (group
commit), so 32 concurrent API calls of a partner cost one storage call, not 32; a fan-out shard's
sent devices are one row, written once its outcomes are final.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat, parse_iso
from shared.ids import new_id
from shared.storage import tablebatch, tables
from shared.storage.groupcommit import GroupCommit

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.usage")

TABLE = "usage"
# Separates the unit from the unit of work's key in a RowKey; older counter rows used "-NN" shards.
_SEP = "~"


class Unit(StrEnum):
    API_CALLS = "apiCalls"
    TENANTS = "tenants"
    NOTIFICATIONS_SENT = "notificationsSent"
    DEVICES_REGISTERED = "devicesRegistered"
    SUBJECT_REQUESTS_HANDLED = "subjectRequestsHandled"


# Units of work that are retried (a fan-out shard finished again, a request's completion written
# again after a conflict): a retry that lands just past a month's end looks for the row in the
# month before, so the work counts once. API calls are keyed by a request id no retry reuses.
RETRIED_UNITS = frozenset({Unit.NOTIFICATIONS_SENT, Unit.DEVICES_REGISTERED, Unit.SUBJECT_REQUESTS_HANDLED})
RETRY_WINDOW = timedelta(hours=1)

# Units recorded as one figure per day (tenants under management): a period's figure is the
# highest day's, and the sum of the days is reported beside it as `tenantDays`.
DAILY_UNITS = frozenset({Unit.TENANTS})
TENANT_DAYS = "tenantDays"


def month_of(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


def _months_between(start: datetime, end: datetime) -> list[str]:
    months, cursor = [], datetime(start.year, start.month, 1, tzinfo=UTC)
    while cursor < end:
        months.append(month_of(cursor))
        cursor = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=UTC)
    return months


def _safe_key(key: str) -> str:
    # RowKeys may not hold / \ # ? or control characters; work keys are ids, so this rarely bites.
    return "".join(c if c.isprintable() and c not in "/\\#?" else f"%{ord(c):02X}" for c in key)[:512]


@dataclass(frozen=True)
class _Row:
    partition: str
    entity: dict[str, Any]


def _write(table_of: Any, batch: list[_Row]) -> list[Exception | None]:
    """Rows as upserts, 100 per transaction; a key twice in one batch is written once."""
    unique = {(row.partition, str(row.entity["RowKey"])): row.entity for row in batch}
    tables.write(table_of(), [("replace", entity) for entity in unique.values()])
    return [None] * len(batch)


# Process-wide: every thread recording for one partner-month shares a transaction.
_RECORDING: GroupCommit[_Row, None] = GroupCommit(max_items=tablebatch.MAX_OPERATIONS)


class UsageMeter:
    """One region's usage rows. `record*` are idempotent per (partner, unit, key)."""

    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    @staticmethod
    def _partition(partner_id: str, month: str) -> str:
        return f"{partner_id}-{month}"

    def _row(self, partner_id: str, unit: Unit, key: str, amount: int, at: datetime) -> _Row:
        partition = self._partition(partner_id, month_of(at))
        entity = {
            "PartitionKey": partition,
            "RowKey": f"{unit.value}{_SEP}{_safe_key(key)}",
            "amount": int(amount),
            "at": isoformat(at),
        }
        return _Row(partition, entity)

    def record(self, partner_id: str, unit: Unit, *, key: str, amount: int = 1) -> None:
        """Stores one unit of work (returns once it is stored); the same key again changes nothing."""
        now = self.clock.now()
        row = self._row(partner_id, unit, key, amount, now)
        if unit in RETRIED_UNITS and self._recorded_last_month(row, now):
            return
        _RECORDING.submit((self.account.label, row.partition), row, lambda batch: _write(self._table, batch))

    def _recorded_last_month(self, row: _Row, now: datetime) -> bool:
        """Whether a retry just after a month began finds its work already counted in the month before."""
        earlier = now - RETRY_WINDOW
        if month_of(earlier) == month_of(now):
            return False
        partition = row.partition.removesuffix(month_of(now)) + month_of(earlier)
        return tables.get(self._table(), partition, str(row.entity["RowKey"])) is not None

    def record_many(self, partner_id: str, unit: Unit, keys: Iterable[str], *, amount: int = 1) -> int:
        """Stores many units of work of one partner in as few transactions as the table allows."""
        now = self.clock.now()
        rows = [self._row(partner_id, unit, key, amount, now) for key in keys]
        if rows:
            _write(self._table, rows)
        return len(rows)

    def add(self, partner_id: str, unit: Unit, amount: int = 1) -> None:
        """A unit of work without a key of its own: durable, but a retry would count again."""
        self.record(partner_id, unit, key=new_id(), amount=amount)

    def peak(self, partner_id: str, unit: Unit, value: int, *, day: date | None = None) -> None:
        """Raises today's figure (or a past `day`'s, caught up after the timer missed it) to `value`
        if it is higher (onboarding shows at once; the daily timer's figure from the tenant
        registry is what stands for the day). A past day's row is dated at its midnight (UTC)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        now = self.clock.now()
        if day is not None:
            now = datetime(day.year, day.month, day.day, tzinfo=UTC)
        row = self._row(partner_id, unit, now.date().isoformat(), value, now)
        table = self._table()
        for _ in range(50):
            entity = tables.get(table, row.partition, str(row.entity["RowKey"]))
            if entity is None:
                try:
                    table.create_entity(row.entity)
                    return
                except ResourceExistsError:
                    continue
            if int(entity["amount"]) >= value:
                return
            entity["amount"] = value
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
        raise RuntimeError(f"usage row {row.partition}/{row.entity['RowKey']} stayed contended")

    def _table(self) -> Any:
        return self.account.table(TABLE)

    # --- reading -------------------------------------------------------------------------------

    def month(self, partner_id: str, month: str) -> dict[str, int]:
        """Totals of one calendar month (`YYYY-MM`)."""
        return self._totals(self._rows(partner_id, [month]), None, None)

    def get_totals(self, partner_id: str, *, start: datetime, end: datetime) -> dict[str, int]:
        """Totals of the units of work recorded in [start, end): a billing period."""
        return self._totals(self._rows(partner_id, _months_between(start, end)), start, end)

    def _rows(self, partner_id: str, months: Sequence[str]) -> Iterable[dict[str, Any]]:
        table = self._table()
        for month in months:
            yield from tables.query_json(
                table,
                tables.partition(self._partition(partner_id, month)),
                select=["RowKey", "amount", "at", "count"],
            )

    @staticmethod
    def _totals(
        rows: Iterable[dict[str, Any]], start: datetime | None, end: datetime | None
    ) -> dict[str, int]:
        totals = {unit.value: 0 for unit in Unit}
        totals[TENANT_DAYS] = 0
        for entity in rows:
            row_key = str(entity["RowKey"])
            if _SEP in row_key:
                unit, amount = row_key.split(_SEP, 1)[0], int(entity.get("amount") or 0)
                if start is not None and end is not None:
                    at = parse_iso(entity["at"])
                    if not start <= at < end:
                        continue
            else:  # a sharded counter row of the months before rows per unit of work
                unit, amount = row_key.rsplit("-", 1)[0], int(entity.get("count") or 0)
            if unit not in totals:
                continue
            if unit in DAILY_UNITS:
                totals[unit] = max(totals[unit], amount)
                if _SEP in row_key:
                    totals[TENANT_DAYS] += amount
            else:
                totals[unit] += amount
        return totals
