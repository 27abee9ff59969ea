"""The partner directory in the control account: partner id -> region, and nothing personal."""

from __future__ import annotations

import threading

from shared.storage import tables
from shared.storage.router import AccountStorage, StorageRouter

TABLE = "partnerdirectory"


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
