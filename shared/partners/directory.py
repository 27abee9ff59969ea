"""The partner directory in the control account: partner -> region, Entra tenant -> partners."""

from __future__ import annotations

import threading

from shared.storage import tables
from shared.storage.router import AccountStorage, StorageRouter

TABLE = "partnerdirectory"
# Entra tenant -> partners: one row per partner in the partition `tenant-{entraTenantId}`, keyed by
# partner id, so a signed-in person's partners are one partition read, never a scan of every partner.
_TENANT_PREFIX = "tenant-"
# Written once every partner created before the tenant index has its row (`mark_tenant_index_complete`).
TENANT_INDEX_MARK = ("tenant-index", "complete")


def tenant_entry(entra_tenant_id: str, partner_id: str) -> tuple[str, str]:
    """The keys of the directory row naming `partner_id` under its Entra tenant."""
    return f"{_TENANT_PREFIX}{entra_tenant_id.lower()}", partner_id


class PartnerDirectory:
    """Regions never change without an explicit move, so lookups are cached for the process."""

    def __init__(self, router: StorageRouter):
        self.router = router
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, partner_id: str, region: str) -> None:
        self.router.control.table(TABLE).upsert_entity(
            {"PartitionKey": partner_id, "RowKey": "region", "region": region}
        )

    def register_tenant(self, partner_id: str, entra_tenant_id: str) -> None:
        pk, rk = tenant_entry(entra_tenant_id, partner_id)
        self.router.control.table(TABLE).upsert_entity({"PartitionKey": pk, "RowKey": rk})

    def list_partner_ids_of_tenant(self, entra_tenant_id: str) -> list[str]:
        """The partners registered under an Entra tenant (a partner not yet committed may be among them)."""
        pk, _ = tenant_entry(entra_tenant_id, "")
        rows = tables.query(self.router.control.table(TABLE), tables.partition(pk), select=["RowKey"])
        return [str(row["RowKey"]) for row in rows]

    def list_regions(self) -> dict[str, str]:
        """Every partner id -> region: a scan, for the one-off backfill of the tenant index only."""
        rows = tables.query(self.router.control.table(TABLE), tables.eq("RowKey", "region"))
        return {str(row["PartitionKey"]): str(row["region"]) for row in rows}

    def tenant_index_complete(self) -> bool:
        return tables.get(self.router.control.table(TABLE), *TENANT_INDEX_MARK) is not None

    def mark_tenant_index_complete(self) -> None:
        pk, rk = TENANT_INDEX_MARK
        self.router.control.table(TABLE).upsert_entity({"PartitionKey": pk, "RowKey": rk})

    def region_of(self, partner_id: str) -> str | None:
        with self._lock:
            if partner_id in self._cache:
                return self._cache[partner_id]
        row = tables.get(self.router.control.table(TABLE), partner_id, "region")
        if row is None:
            return None
        region = str(row["region"])
        with self._lock:
            self._cache[partner_id] = region
        return region

    def account_of(self, partner_id: str) -> AccountStorage | None:
        region = self.region_of(partner_id)
        return self.router.region(region) if region in self.router.regions else None
