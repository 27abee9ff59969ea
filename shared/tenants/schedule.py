"""The scheduled sync: every active tenant of every region gets a sync queued (the timer's use case)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage
    from shared.tenants.service import TenantService


def queue_scheduled_syncs(
    accounts: Iterable[AccountStorage],
    partner: Callable[[str], Partner],
    tenants: Callable[[Partner], TenantService],
) -> int:
    """Queues one sync per active tenant in its region's own queue (ids only); how many were queued."""
    from shared.tenants.records import active_tenants_in

    queued = 0
    for account in accounts:
        for partner_id, tenant_ids in active_tenants_in(account).items():
            service = tenants(partner(partner_id))
            for tenant_id in tenant_ids:
                service.request_sync(tenant_id, "schedule", None)
                queued += 1
    return queued
