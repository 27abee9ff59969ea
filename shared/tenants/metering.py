"""The daily tenant census: tenants under management per partner, counted in the tenant registry.

Catching up: the census remembers, per region, the last day it took (a `~census` row of the usage
table, beside the partners' month partitions, which every partner-keyed read and sweep skips).
When the host was down for days, the next run first fills each missed day, oldest first, then takes
today's figure. A missed day's figure is rebuilt from what is recorded: a tenant in the registry
counts from the day it was onboarded (`createdAt`), and a tenant deleted since counts up to the day
of its `tenant.deleted` event (from its `tenant.created` event, if the log still has it; otherwise
from before the gap). Day rows are keyed by the day, so a repeated run writes nothing new. At most
`CATCH_UP_DAYS` are filled: days further back are left without a figure (0 tenants, and the
tenant-days line is included in the plan at no charge) and a warning names the gap.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.audit.log import AuditLog, EventFilter
from shared.clock import Clock, parse_iso
from shared.storage import tables
from shared.tenants.records import TENANTS
from shared.usage import TABLE as USAGE_TABLE
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.usage")

CATCH_UP_DAYS = 90
CENSUS_PARTITION = "~census"  # not a partner's: partner partitions are `<partner id>-<month>`
_CENSUS_ROW = Unit.TENANTS.value
_PAGE = 1000


def count_tenants_under_management(account: AccountStorage) -> Counter[str]:
    """Partner id -> its active tenants (pending proof included: they are onboarded and held)."""
    rows = account.table(TENANTS).query_entities(
        "RowKey lt '~' and status eq 'active'", select=["PartitionKey"]
    )
    return Counter(str(row["PartitionKey"]) for row in rows)


def count_partner_tenants(account: AccountStorage, partner_id: str) -> int:
    """One partner's tenants under management now (what a smaller plan must fit)."""
    rows = account.table(TENANTS).query_entities(
        f"{tables.partition(partner_id)} and RowKey lt '~' and status eq 'active'", select=["RowKey"]
    )
    return sum(1 for _ in rows)


def get_census_day(account: AccountStorage) -> date | None:
    """The last day the region's census took, or None before its first run."""
    row = tables.get(account.table(USAGE_TABLE), CENSUS_PARTITION, _CENSUS_ROW)
    return None if row is None else date.fromisoformat(str(row["day"]))


def _set_census_day(account: AccountStorage, day: date) -> None:
    account.table(USAGE_TABLE).upsert_entity(
        {"PartitionKey": CENSUS_PARTITION, "RowKey": _CENSUS_ROW, "day": day.isoformat()}
    )


@dataclass(frozen=True)
class _Held:
    """One tenant's time under a partner: from `since` (None: before the gap) until `until`."""

    partner_id: str
    since: datetime | None
    until: datetime | None

    def held_on(self, day: date) -> bool:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        return (self.since is None or self.since < end) and (self.until is None or self.until > start)


def _holdings(account: AccountStorage, clock: Clock, since: date) -> list[_Held]:
    """Every tenant held by a partner of the region at some time since `since`, as recorded."""
    held = [
        _Held(str(row["PartitionKey"]), parse_iso(row["createdAt"]), None)
        for row in tables.query(
            account.table(TENANTS),
            "RowKey lt '~' and status eq 'active'",
            select=["PartitionKey", "createdAt"],
        )
    ]
    log_ = AuditLog(account, clock)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    partner_rows = tables.query(
        account.table("partners"), tables.eq("RowKey", "partner"), select=["PartitionKey"]
    )
    for partner_id in sorted(str(row["PartitionKey"]) for row in partner_rows):
        for event in _events(log_, partner_id, EventFilter(start=start, action="tenant.deleted")):
            tenant_id = str(event["target"]["id"])
            created = _events(log_, partner_id, EventFilter(action="tenant.created", target=tenant_id))
            onboarded = max((parse_iso(e["at"]) for e in created), default=None)
            held.append(_Held(partner_id, onboarded, parse_iso(event["at"])))
    return held


def _events(log_: AuditLog, partner_id: str, filters: EventFilter) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page, token = log_.list(partner_id, filters, _PAGE, token)
        found.extend(page)
        if token is None:
            return found


def catch_up_days(account: AccountStorage, meter: UsageMeter, today: date) -> int:
    """Fills the days between the census's last day and today, oldest first; how many figures."""
    last = get_census_day(account)
    if last is None or last >= today - timedelta(days=1):
        return 0  # the first census ever starts today; nothing was missed
    first = last + timedelta(days=1)
    bound = today - timedelta(days=CATCH_UP_DAYS)
    if first < bound:
        log.warning(
            "tenant census: days %s to %s are past the %d-day catch-up and keep no figure",
            first,
            bound - timedelta(days=1),
            CATCH_UP_DAYS,
        )
        first = bound
    held = _holdings(account, meter.clock, first)
    taken = 0
    day = first
    while day < today:
        for partner_id, count in Counter(h.partner_id for h in held if h.held_on(day)).items():
            meter.peak(partner_id, Unit.TENANTS, count, day=day)
            taken += 1
        _set_census_day(account, day)  # a run cut off here resumes at the next day
        day += timedelta(days=1)
    return taken


def record_daily_tenants(
    regions: Iterable[str],
    account: Callable[[str], AccountStorage],
    meter: Callable[[str], UsageMeter],
) -> int:
    """Fills any missed days, then takes today's figure for every partner with tenants in every
    region; how many figures were taken.

    One row per partner per day holding the day's highest count, so a timer that fires twice, or
    is retried, still bills the day once. A partner without tenants has no row: its figure is 0.
    """
    taken = 0
    for region in regions:
        usage, storage = meter(region), account(region)
        today = usage.clock.now().date()
        taken += catch_up_days(storage, usage, today)
        for partner_id, count in count_tenants_under_management(storage).items():
            usage.peak(partner_id, Unit.TENANTS, count)
            taken += 1
        last = get_census_day(storage)
        if last is None or last < today:  # only forward: a clock set back must not reopen days
            _set_census_day(storage, today)
    return taken
