"""The daily tenant census: tenants under management per partner, counted in the tenant registry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from shared.storage import tables
from shared.tenants.records import TENANTS
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage


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


def record_daily_tenants(
    regions: Iterable[str],
    account: Callable[[str], AccountStorage],
    meter: Callable[[str], UsageMeter],
) -> int:
    """Takes today's figure for every partner with tenants in every region; how many were taken.

    One row per partner per day holding the day's highest count, so a timer that fires twice, or
    is retried, still bills the day once. A partner without tenants has no row: its figure is 0.
    """
    taken = 0
    for region in regions:
        usage = meter(region)
        for partner_id, count in count_tenants_under_management(account(region)).items():
            usage.peak(partner_id, Unit.TENANTS, count)
            taken += 1
    return taken
