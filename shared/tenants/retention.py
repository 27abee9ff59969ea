"""Retention of synced end-user data: it goes when the partner's subscription ends.

Removing a tenant deletes its data at once (`TenantService.delete`); this rule keeps the other
half of the promise, for every tenant of a partner whose subscription has ended, at the
deletion schedule's `endUserDataAt`. The tenant row goes last, so a sweep cut off half-way finds
the tenant again and finishes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.privacy.retention import PartnerDataRule, PartnerRecord, SweepScope, delete_row, end_user_data_at

CATEGORY = "end-user data"


class EndUserDataAtSubscriptionEnd(PartnerDataRule):
    name = "tenants.end-user-data"

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return end_user_data_at(partner.subscription)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        from shared.tenants.records import TENANTS

        rows = scope.account.table(TENANTS).query_entities(
            "PartitionKey eq @pk and RowKey lt '~'", parameters={"pk": partner_id}, select=["RowKey"]
        )
        for row in rows:  # a partition comes back in RowKey order, as resuming needs
            yield str(row["RowKey"]), CATEGORY, str(row["RowKey"])

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        from shared.tenants.claims import CLAIMS, release_claim
        from shared.tenants.records import TENANTS, purge_tenant_data

        purge_tenant_data(scope.account, partner_id, str(ref))
        # The claim goes with the data: the customer is free for another partner's proof at once.
        release_claim(scope.router.control.table(CLAIMS), str(ref), partner_id)
        return delete_row(scope.account.table(TENANTS), partner_id, str(ref))
