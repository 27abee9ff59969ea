"""Notifications of one partner: accepting one (webhook or partner), reading it, acknowledging delivery.

Where they are kept: `shared.notifications.records`; what they carry: `shared.notifications.payload`.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat, parse_iso
from shared.errors import not_found, service_unavailable
from shared.ids import new_id
from shared.notifications.models import (
    DeliveredOut,
    FanoutJob,
    FanoutJobs,
    NotificationOut,
)
from shared.notifications.payload import NewNotification
from shared.notifications.records import (
    ACK_COUNTERS,
    ACK_PREFIX,
    DELIVERIES,
    INLINE_PAYLOAD_BYTES,
    NOTIFICATIONS,
    PAYLOADS,
    QUEUE,
    SHARD_PREFIX,
    outcome_of,
    outcome_rows,
    summary_rows,
)
from shared.notifications.secrets import TokenCipher
from shared.storage import tablebatch, tables
from shared.storage.groupcommit import GroupCommit
from shared.storage.queues import MAX_MESSAGE_BYTES, enqueue, packed

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

_ACK_ATTEMPTS = 8


@dataclass(frozen=True)
class _Accepting:
    new: NewNotification
    row: dict[str, Any]
    sealed: str

    @property
    def notification_id(self) -> str:
        return str(self.row["RowKey"])


# Process-wide: callers on different threads accepting for one org share transactions and messages.
_ACCEPTING: GroupCommit[_Accepting, tuple[str, bool]] = GroupCommit(max_items=tablebatch.MAX_OPERATIONS)


class NotificationService:
    """One region's notifications of one partner."""

    def __init__(self, account: AccountStorage, partner_id: str, clock: Clock, cipher: TokenCipher):
        self.account = account
        self.partner_id = partner_id
        self.clock = clock
        self.cipher = cipher

    # --- accepting -----------------------------------------------------------------------------

    def accept(self, new: NewNotification) -> tuple[str, bool]:
        """Persists the metadata (and a large payload), queues the fan-out; (notification id, created now).

        A Dataverse delivery comes with its notification id (derived from the delivery, see
        `webhook.plan`), so the insert is also the idempotency check: a retried delivery meets
        409 and gets the first one's notification, queued again if it may not have been (the
        fan-out claims each device once, so a second job sends nothing twice). A small payload rides
        sealed in the job message itself (no blob to write, read and delete); a larger one goes to
        the transient `notifypayloads` blob, written after the row and before the job.

        Notifications of one org accepted at the same moment are written together (group commit):
        one transaction for their rows, one queue message for their jobs. The answer still comes
        only after this notification's row and job are stored.
        """
        notification_id = new.notification_id or new_id()
        sealed = self.cipher.seal(new.payload.to_json(), notification_id)
        row: dict[str, Any] = {
            "PartitionKey": new.org_id,
            "RowKey": notification_id,
            "source": new.source,
            "state": "accepted",
            "recipients": json.dumps(new.recipients) if new.recipients is not None else "everyone",
            "ruleId": new.rule_id,
            "entity": new.entity,
            "message": new.message,
            "recordId": new.record_id,
            "needsRecord": new.needs_record,
            "createdAt": isoformat(self.clock.now()),
            "deviceCount": 0,
            "payloadBlob": len(sealed) > INLINE_PAYLOAD_BYTES,
        }
        accepting = _Accepting(new, {k: v for k, v in row.items() if v is not None}, sealed)
        return _ACCEPTING.submit((self.account.label, new.org_id), accepting, self._store)

    def _store(self, batch: list[_Accepting]) -> list[tuple[str, bool] | Exception]:
        """Writes one org's accepted notifications: rows in one go, then payload blobs, then jobs."""
        from azure.core.exceptions import ResourceExistsError

        table = self.account.table(NOTIFICATIONS)
        # Notification id -> its first item here: a retried delivery can race the original.
        first: dict[str, int] = {}
        for index, item in enumerate(batch):
            first.setdefault(item.notification_id, index)
        inserting = sorted(first.values())
        existed = {inserting[i] for i in tablebatch.insert_new(table, [batch[i].row for i in inserting])}
        outcomes: list[tuple[str, bool] | Exception] = []
        queueing: list[_Accepting] = []
        for index, item in enumerate(batch):
            if first[item.notification_id] != index:
                outcomes.append((item.notification_id, False))  # the same delivery twice in one batch
            elif index not in existed:
                outcomes.append((item.notification_id, True))
                queueing.append(item)
            elif item.new.notification_id is None:
                outcomes.append(ResourceExistsError("a new notification id was taken"))
            else:
                outcomes.append((item.notification_id, False))
                # Only a first delivery that may have stopped before queueing is queued again.
                if table.get_entity(item.new.org_id, item.notification_id).get("state") == "accepted":
                    queueing.append(item)
        for item in queueing:
            if item.row["payloadBlob"]:
                self.account.container(PAYLOADS).upload_blob(
                    item.notification_id, item.sealed.encode(), overwrite=True
                )
        self._queue(queueing)
        return outcomes

    def _queue(self, accepted: list[_Accepting]) -> None:
        jobs = [
            FanoutJob(
                partner_id=self.partner_id,
                org_id=item.new.org_id,
                notification_id=item.notification_id,
                payload=None if item.row["payloadBlob"] else item.sealed,
            )
            for item in accepted
        ]
        queue = self.account.queue(QUEUE)
        if len(jobs) == 1:
            enqueue(queue, jobs[0])
            return
        for group in packed(jobs, MAX_MESSAGE_BYTES - 64):  # room for the wrapper
            enqueue(queue, FanoutJobs(jobs=group))

    # --- reading -------------------------------------------------------------------------------

    def _row(self, org_id: str, notification_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.account.table(NOTIFICATIONS).get_entity(org_id, notification_id)
        except ResourceNotFoundError:
            raise not_found("No such notification.") from None

    def _view(self, row: Any, counts: dict[str, int] | None = None) -> NotificationOut:
        recipients_text = str(row.get("recipients") or "everyone")
        recipients: Any = "everyone" if recipients_text == "everyone" else json.loads(recipients_text)
        total = int(row.get("deviceCount") or 0)
        counts = counts or {
            "sent": int(row.get("sent") or 0),
            "failed": int(row.get("failed") or 0),
            "delivered": int(row.get("delivered") or 0),
        }
        return NotificationOut(
            id=str(row["RowKey"]),
            org_id=str(row["PartitionKey"]),
            source=row["source"],
            state=row["state"],
            rule_id=row.get("ruleId"),
            entity=row.get("entity"),
            message=row.get("message"),
            record_id=row.get("recordId"),
            needs_record=bool(row.get("needsRecord", False)),
            recipients=recipients,
            sent=counts["sent"],
            failed=counts["failed"],
            delivered=counts["delivered"],
            pending=max(0, total - counts["sent"] - counts["failed"]),
            device_count=total,
            created_at=row["createdAt"],
            completed_at=row.get("completedAt"),
        )

    def list_notifications(
        self, org_id: str, top: int, continuation: str | None
    ) -> tuple[list[NotificationOut], str | None]:
        rows, token = tables.page(
            self.account.table(NOTIFICATIONS), tables.partition(org_id), top, continuation
        )
        return [self._view(r) for r in rows], token

    def get_counts(self, row: Any) -> dict[str, int]:
        """Sent, failed and delivered, from the summary rows, so a GET costs the same at any size.

        Sent and failed: the notification row's totals once it completed; until then each done
        shard's totals plus the outcome rows of shards still sending (outcomes never change after
        a shard is done). Delivered: the `~ack` counters, moved in the same transaction as each
        acknowledgement (see `delivered`).
        """
        notification_id = str(row["RowKey"])
        table = self.account.table(DELIVERIES)
        counts = {"sent": 0, "failed": 0, "delivered": 0}
        for counter in summary_rows(table, notification_id, ACK_PREFIX):
            counts["delivered"] += int(counter.get("count") or 0)
        if row.get("state") == "completed":
            counts["sent"], counts["failed"] = int(row.get("sent") or 0), int(row.get("failed") or 0)
            return counts
        for shard in summary_rows(table, notification_id, SHARD_PREFIX):
            if shard.get("state") == "done":
                counts["sent"] += int(shard.get("sent") or 0)
                counts["failed"] += int(shard.get("failed") or 0)
                continue
            for outcome in outcome_rows(
                table, notification_id, str(shard["low"]), str(shard["high"]), ["state"]
            ):
                if outcome.get("state") in ("sent", "failed"):
                    counts[str(outcome["state"])] += 1
        return counts

    def get(
        self, org_id: str, notification_id: str, top: int = 100, continuation: str | None = None
    ) -> NotificationOut:
        row = self._row(org_id, notification_id)
        view = self._view(row, self.get_counts(row))
        # Device outcomes only: the `~shard` and `~ack` summary rows sort after every device id.
        rows, token = tables.page(
            self.account.table(DELIVERIES),
            f"{tables.partition(notification_id)} and RowKey lt '~'",
            top,
            continuation,
        )
        view.devices = [outcome_of(r) for r in rows]
        view.devices_continuation_token = token
        return view

    # --- acknowledgements ---------------------------------------------------------------------

    def delivered(self, notification_id: str, device_id: str, at: datetime | None) -> DeliveredOut:
        """Records the client's delivery date once; the first acknowledgement wins, later ones get it.

        The outcome row and one of the notification's `~ack` counters (chosen by device, so that
        acknowledgements arriving together rarely meet on one row) move in one transaction, each
        under its ETag: a crash cannot record one without the other, and two acknowledgements at
        once cannot both count.
        """
        table = self.account.table(DELIVERIES)
        for _ in range(_ACK_ATTEMPTS):
            row = tables.get_json(table, notification_id, device_id)
            if row is None or row.get("state") != "sent":
                raise not_found("No such notification for this device.")
            if row.get("deliveredAt"):
                moment = parse_iso(row["deliveredAt"])
                return DeliveredOut(notification_id=notification_id, device_id=device_id, delivered_at=moment)
            # As stored, so the first answer and every later one give the same date.
            moment = parse_iso(isoformat(at or self.clock.now()))
            key = f"{ACK_PREFIX}{zlib.crc32(device_id.encode()) % ACK_COUNTERS:02d}"
            counter = tables.get_json(table, notification_id, key)
            counted = {"PartitionKey": notification_id, "RowKey": key}
            operations: list[tuple[Any, ...]] = [
                ("update", {"PartitionKey": notification_id, "RowKey": device_id,
                            "deliveredAt": isoformat(moment)}, row.etag),
                ("update", {**counted, "count": int(counter.get("count") or 0) + 1}, counter.etag)
                if counter is not None
                else ("create", {**counted, "count": 1}),
            ]  # fmt: skip
            try:
                tables.write(table, operations)
            except tables.BatchRefusedError as error:
                if error.status_code in (409, 412):
                    continue  # another acknowledgement moved a row first: read again
                raise
            return DeliveredOut(notification_id=notification_id, device_id=device_id, delivered_at=moment)
        raise service_unavailable("Too many acknowledgements at once; try again.")
