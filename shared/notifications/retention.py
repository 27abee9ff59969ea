"""Retention of push devices: an unsubscribed device's tombstone leaves live storage.

Unsubscribing already wipes the token, installation id, footprint and secret at once
(`DeviceRegistry.unsubscribe`); the sweep removes what is left (device id, system user, dates) at
its next run, well inside the 30 days the design promises.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.notifications.devices import TABLE, UNSUBSCRIBED
from shared.privacy.retention import Candidate, SweepScope, delete_row

CATEGORY = "push device ids (Firebase instance ID + browser footprint)"


class UnsubscribedDevices:
    name = "notifications.unsubscribed-devices"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = scope.account.table(TABLE).query_entities(
            f"status eq '{UNSUBSCRIBED}'", select=["PartitionKey", "RowKey"], results_per_page=1000
        )
        for row in rows:
            key = f"{row['PartitionKey']}|{row['RowKey']}"
            if after is None or key > after:
                yield Candidate(key, CATEGORY, (str(row["PartitionKey"]), str(row["RowKey"])))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        partition, row = candidate.ref
        table = scope.account.table(TABLE)
        try:
            current = table.get_entity(partition, row, select=["status"])
        except ResourceNotFoundError:
            return False  # already gone
        if current.get("status") != UNSUBSCRIBED:
            return False  # registered again meanwhile
        return delete_row(table, partition, row)
