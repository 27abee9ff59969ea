"""Leases on one table row, for long operations a queue drives: claim, write under the ETag, release.

A worker claims an operation's row (`leaseUntil` in the future, under the ETag it read), writes every
change under the ETag of its last write, and releases the lease when it stops early. A second worker
(a duplicate message, a second instance) finds the lease held and looks again when it ends; a worker
killed mid-way leaves a lease that runs out, so the queue's redelivery resumes the operation.
Offboarding (`shared/tenants/offboarding.py`) and standard runs (`shared/standards/runs.py`) use it.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from shared.clock import isoformat, parse_iso
from shared.storage import tables


class LeaseBusyError(Exception):
    """Another worker holds the row's lease: look again in `retry_in` seconds."""

    def __init__(self, key: str, retry_in: int = 1):
        super().__init__(key)
        self.retry_in = retry_in


def _merge_if_unchanged(table: Any, row: Any, changes: dict[str, Any]) -> Any:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError
    from azure.data.tables import UpdateMode

    entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes}
    try:
        table.update_entity(
            entity, mode=UpdateMode.MERGE, etag=row.etag, match_condition=MatchConditions.IfNotModified
        )
    except ResourceModifiedError:
        raise LeaseBusyError(str(row["RowKey"])) from None
    saved = tables.get(table, str(row["PartitionKey"]), str(row["RowKey"]))
    assert saved is not None
    return saved


def claim(table: Any, row: Any, now: datetime, lease: timedelta) -> Any:
    """Takes the row's lease (state `running`, one more attempt); the row as written."""
    held = row.get("leaseUntil")
    if held and parse_iso(held) > now:
        raise LeaseBusyError(str(row["RowKey"]), int((parse_iso(held) - now).total_seconds()) + 1)
    return _merge_if_unchanged(
        table,
        row,
        {
            "state": "running",
            "leaseUntil": isoformat(now + lease),
            "attempts": int(row.get("attempts", 0)) + 1,
            "startedAt": row.get("startedAt") or isoformat(now),
        },
    )


def save(table: Any, row: Any, changes: dict[str, Any]) -> Any:
    """Writes `changes` under the row's ETag: a worker whose lease was taken over stops here."""
    return _merge_if_unchanged(table, row, changes)


def release(table: Any, row: Any) -> None:
    """Gives the lease up early (throttled, an error to retry): the next message need not wait."""
    with suppress(LeaseBusyError):
        save(table, row, {"leaseUntil": ""})
