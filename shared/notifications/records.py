"""Where notifications are kept, and how their rows read back.

Tables (regional):
- `notifications`, PartitionKey = org id: `<notification id>` rows hold the metadata (source,
  rule, event names, recipients, state, device count, timestamps; never a title or body). A
  Dataverse delivery's notification id is derived from the delivery, so a retried delivery meets
  the first one's row (409) and nothing else is created.
- `notifydeliveries`, PartitionKey = notification id: one row per device (state, attempts, Firebase
  message name, sent/delivered time, error code and reason), `~shard<nnnnn>` rows (see fanout)
  and `~ack<nn>` counters of delivery acknowledgements (see `NotificationService.delivered`).

The body (title, body, data, link) is sealed into a blob of `notifypayloads`, named by the
notification id, read by the fan-out and deleted when the notification completes; a lifecycle
rule deletes any left over after 1 day. The queue message carries ids only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shared.notifications.models import DeviceOutcome
from shared.storage import tablequery, tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

NOTIFICATIONS = "notifications"
DELIVERIES = "notifydeliveries"
PAYLOADS = "notifypayloads"
QUEUE = "notifyfanout"
SHARD_PREFIX = "~shard"
ACK_PREFIX = "~ack"  # `~ack<nn>` rows: delivered acknowledgements counted, one counter per device bucket
ACK_COUNTERS = 16
FINAL_STATES = frozenset({"sent", "failed"})
# A sealed payload up to this size travels in the job message (which holds 48 KiB of JSON).
INLINE_PAYLOAD_BYTES = 8 * 1024


def summary_rows(table: Any, notification_id: str, prefix: str) -> Iterator[tables.Row]:
    """The summary rows of one kind (`~shard`, `~ack`) in a notification's delivery partition."""
    return tables.query_json(
        table,
        f"{tables.partition(notification_id)} "
        f"and RowKey ge {tables.literal(prefix)} and RowKey lt {tables.literal(prefix + '~')}",
    )


def outcome_rows(
    table: Any, notification_id: str, low: str, high: str, select: list[str]
) -> Iterator[dict[str, Any]]:
    """The devices' outcome rows of a notification from `low` to `high` (a shard's range)."""
    return tablequery.query(
        table,
        f"PartitionKey eq {tablequery.literal(notification_id)} "
        f"and RowKey ge {tablequery.literal(low)} and RowKey le {tablequery.literal(high)}",
        select=select,
    )


def outcome_of(row: Any) -> DeviceOutcome:
    return DeviceOutcome(
        device_id=str(row["RowKey"]),
        system_user_id=row.get("systemUserId"),
        state=row.get("state", "sending"),
        attempts=int(row.get("attempts") or 0),
        message_id=row.get("messageId"),
        sent_at=row.get("sentAt"),
        delivered_at=row.get("deliveredAt"),
        error_code=row.get("errorCode"),
        reason=row.get("reason"),
        device_deleted=bool(row.get("deviceDeleted", False)),
    )


def delete_org_notifications(account: AccountStorage, org_id: str) -> int:
    """The org-delete cascade: notification metadata, their delivery rows and any payload left."""
    from azure.core.exceptions import ResourceNotFoundError

    from shared.notifications.orgs import rows_of

    table = account.table(NOTIFICATIONS)
    count = 0
    for row in rows_of(table, org_id, ["RowKey"]):
        key = str(row["RowKey"])
        tables.delete_partition(account.table(DELIVERIES), key)
        with contextlib.suppress(ResourceNotFoundError):
            account.container(PAYLOADS).delete_blob(key)
        count += 1
    tables.delete_partition(table, org_id)
    return count
