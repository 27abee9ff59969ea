"""What the fan-out's planner and shard runner both read and write: settings, notification, shards.

See `shared.notifications.fanout` for how a notification fans out.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.fcm import FCM_DEVICE_LIMIT_PER_MINUTE, PushMessage, SendOutcome
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat
from shared.notifications.devices import DeviceRegistry
from shared.notifications.models import FanoutJob
from shared.notifications.records import DELIVERIES, NOTIFICATIONS, PAYLOADS, SHARD_PREFIX, summary_rows
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.fanout")


class Sender(Protocol):
    def send(self, messages: Sequence[PushMessage]) -> list[SendOutcome]: ...


# The system users of an org who restricted or objected to processing (the privacy area answers).
Restrictions = Callable[["AccountStorage", str], frozenset[str]]


@dataclass(frozen=True)
class FanoutSettings:
    # A shard is one queue job. The first ones are small, so the first sends start after a short
    # read; the rest are `later_shard_factor` times larger, because each job costs fixed table round
    # trips (measured at 100,000 devices: shards of 1,000 ran at 1,787 devices/s, of 3,000 at
    # 2,118). Sizes depend only on the shard's index, so two planners cut the same boundaries.
    shard_size: int = 1000
    small_shards: int = 2
    later_shard_factor: int = 4
    chunk_size: int = 500  # one send_each_async call
    claim_lease_seconds: float = 120.0  # longer than one firebase-admin call can take
    max_rounds: int = 12
    # Calls in flight per process (500 requests each, on the sender's one loop). Two keep the loop
    # busy while other jobs write tables; more only add GIL contention (measured: 8 cost 25% more
    # CPU per device than 2).
    concurrent_sends: int = 2
    device_limit_per_minute: int = FCM_DEVICE_LIMIT_PER_MINUTE
    # The most messages one notification can send one device within a minute: its first attempt
    # and retries (backoff from 1-2 s, at most 5 attempts). With fewer than
    # device_limit_per_minute / this notifications of an org active in the last minute, no device
    # of it can reach the limit, and the per-device record is skipped.
    attempts_per_minute: int = 5
    first_shard_inline: bool = True  # the planning job sends the first shard itself (one poll sooner)


class FanoutStore:
    """One region's notification rows, recipients' devices and shard rows, as the fan-out sees them."""

    def __init__(self, account: AccountStorage, clock: Clock, devices: DeviceRegistry):
        self.account = account
        self.clock = clock
        self.devices = devices

    def get_notification(self, job: FanoutJob) -> Any:
        # None: the org was deleted meanwhile. Read lean, as are shard rows: every job reads them,
        # and the SDK's decoding was most of what a notification for nobody cost.
        return tables.get_json(self.account.table(NOTIFICATIONS), job.org_id, job.notification_id)

    @staticmethod
    def _recipients(row: Any) -> set[str] | None:
        text = str(row.get("recipients") or "everyone")
        return None if text == "everyone" else {str(u).lower() for u in json.loads(text)}

    def list_matching(
        self, row: Any, low: str | None = None, high: str | None = None, *, targets: bool = True
    ) -> Iterable[Any]:
        users = self._recipients(row)
        created = str(row["createdAt"])
        for device in self.devices.list_active(str(row["PartitionKey"]), low, high, targets=targets):
            if users is not None and str(device.get("systemUserId")) not in users:
                continue
            if str(device.get("createdAt") or "") > created:
                continue  # registered after the notification was made
            yield device

    def list_shards(self, notification_id: str) -> list[Any]:
        return list(summary_rows(self.account.table(DELIVERIES), notification_id, SHARD_PREFIX))

    def complete(self, job: FanoutJob, shards: list[Any] | None = None, *, planned: bool = False) -> None:
        """Marks the notification completed; `planned`: also its (empty) plan, when it had no devices."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        shards = shards or []
        row: dict[str, Any] = {
            "PartitionKey": job.org_id,
            "RowKey": job.notification_id,
            "state": "completed",
            "completedAt": isoformat(self.clock.now()),
            "sent": sum(int(s.get("sent") or 0) for s in shards),
            "failed": sum(int(s.get("failed") or 0) for s in shards),
        }
        if planned:
            row.update(deviceCount=0, shards=0)
        self.account.table(NOTIFICATIONS).update_entity(row, mode=UpdateMode.MERGE)
        if _failing_often(int(row["sent"]), int(row["failed"])):
            self._record_failure_rate(job, int(row["sent"]), int(row["failed"]))
        if job.payload is None:  # it was in the transient blob
            with contextlib.suppress(ResourceNotFoundError):
                self.account.container(PAYLOADS).delete_blob(job.notification_id)
        log.debug("notification %s completed", job.notification_id)

    def _record_failure_rate(self, job: FanoutJob, sent: int, failed: int) -> None:
        # Completing may run twice (planner and last shard); the alert rules alert once per notification.
        AuditLog(self.account, self.clock).append(
            job.partner_id,
            NewEvent(
                action="notification.fanout.highFailureRate",
                actor={"type": "system", "id": "fanout"},
                target={"type": "notification", "id": job.notification_id, "orgId": job.org_id},
                details={"orgId": job.org_id, "sent": sent, "failed": failed},
            ),
        )


# A fan-out whose devices failed this often is worth a person's look (expired tokens after an app
# release, a broken Firebase project); below the floor of devices a few stale tokens look like a rate.
HIGH_FAILURE_RATE = 0.2
HIGH_FAILURE_MIN_DEVICES = 20


def _failing_often(sent: int, failed: int) -> bool:
    total = sent + failed
    return total >= HIGH_FAILURE_MIN_DEVICES and failed >= HIGH_FAILURE_RATE * total
