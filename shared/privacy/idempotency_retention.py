"""The retention rule of Idempotency-Key records: each goes 24 hours after its first request."""

from __future__ import annotations

from collections.abc import Iterator

from shared.clock import parse_iso
from shared.idempotency import TABLE
from shared.privacy.retention import Candidate, SweepScope

CATEGORY = "API responses (sealed)"


class IdempotencyRecords:
    """A record (and the sealed answer in it, which may hold a secret shown once) goes at its
    `expiresAt`: past it the key no longer replays anything, so nothing is kept for no use.

    Deleted only in the version listed: a retry that took an expired key over meanwhile wrote a
    new record (a new ETag), which stays for its own 24 hours.
    """

    name = "idempotency.expired"
    covers = (TABLE,)
    tested_by = "tests/integration/test_idempotency_records.py::test_records_go_24_hours_after_the_request"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        # In key order (partition, row), which is the cursor's order: `|` sorts after every id.
        rows = scope.account.table(TABLE).list_entities(select=["PartitionKey", "RowKey", "expiresAt"])
        for row in rows:
            key = f"{row['PartitionKey']}|{row['RowKey']}"
            if after is not None and key <= after:
                continue
            expires = row.get("expiresAt")
            if expires is None or parse_iso(expires) <= scope.as_of:
                etag = row.metadata.get("etag")
                yield Candidate(key, CATEGORY, (str(row["PartitionKey"]), str(row["RowKey"]), etag))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        partition, row_key, etag = candidate.ref
        try:
            scope.account.table(TABLE).delete_entity(
                partition, row_key, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceNotFoundError:
            return False
        except HttpResponseError as error:
            if getattr(error, "status_code", None) == 412:
                return False  # taken over since it was listed: a new record with its own 24 hours
            raise
        return True
