"""FCM's 240 messages a minute per device: a send is taken from the device's allowance first.

Only an organisation with enough notifications active in the last minute
(`device_limit_per_minute / attempts_per_minute`, 48 by default) can bring a device to the limit,
so the per-device record (`r_<device id>` rows of the devices table, the org's partition) is kept
only for such an org (`org_busy`, checked once per process every few seconds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat, parse_iso
from shared.notifications.devices import RATE_PREFIX
from shared.notifications.models import FanoutJob
from shared.notifications.records import NOTIFICATIONS
from shared.storage import tables
from shared.storage.tables import literal

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

WINDOW = timedelta(minutes=1)
# How far back a notification can still be sending: retries are capped at 15 minutes apart and
# rounds at `max_rounds`, so one older than this has completed (or given up).
_LIFETIME = timedelta(hours=4)
_BUSY_CACHE_SECONDS = 5.0


def iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DeviceRateLimit:
    """The per-device allowance of one region's devices (process-wide cache of busy orgs)."""

    _busy: dict[str, tuple[float, bool]] = {}  # org id -> (monotonic time checked, busy)

    def __init__(
        self,
        account: AccountStorage,
        devices_table: Callable[[], Any],
        clock: Clock,
        *,
        device_limit_per_minute: int,
        attempts_per_minute: int,
    ):
        self.account = account
        self.devices_table = devices_table
        self.clock = clock
        self.device_limit_per_minute = device_limit_per_minute
        self.attempts_per_minute = attempts_per_minute

    def org_busy(self, org_id: str) -> bool:
        """Whether any device of the org could reach the per-device limit: enough notifications of
        the org were active in the last minute. Rarely true, so the per-device record costs
        nothing for almost every org. Cached briefly per process: shards of one notification ask
        together."""
        checked = self._busy.get(org_id)
        if checked is not None and time.monotonic() - checked[0] < _BUSY_CACHE_SECONDS:
            return checked[1]
        from ulid import ULID

        now = self.clock.now()
        oldest = str(ULID.from_datetime(now - _LIFETIME))[:10] + "0" * 16  # ids are ULIDs: time first
        rows = tables.query_json(
            self.account.table(NOTIFICATIONS),
            f"PartitionKey eq {literal(org_id)} and RowKey ge {literal(oldest)} and RowKey lt 'k' "
            f"and (state ne 'completed' or completedAt ge {literal(isoformat(now - WINDOW))})",
            select=["RowKey"],
        )
        most = self.device_limit_per_minute
        busy = False
        for active, _ in enumerate(rows, start=1):
            if active * self.attempts_per_minute > most:
                busy = True
                break
        self._busy[org_id] = (time.monotonic(), busy)
        return busy

    def reserve(
        self, job: FanoutJob, claimed: list[tuple[Any, int]]
    ) -> tuple[list[tuple[Any, int]], list[dict[str, Any]]]:
        """Takes a send from each device's last-minute allowance; returns (devices to send now,
        delivery rows of those held back until the allowance frees: delayed, not dropped).

        Each device's `r_<device id>` row (devices table, the org's partition: it goes with the
        org, the device) holds its send times of the last minute; it is updated under its ETag
        before the send, so two notifications' workers cannot both take the last slot.
        """
        table = self.devices_table()
        ids = [str(device["RowKey"])[2:] for device, _ in claimed]
        rows = {
            str(r["RowKey"])[len(RATE_PREFIX) :]: r
            for r in tables.query_json(
                table,
                f"PartitionKey eq {literal(job.org_id)} and RowKey ge {literal(RATE_PREFIX + min(ids))} "
                f"and RowKey le {literal(RATE_PREFIX + max(ids))}",
                select=["RowKey", "sends"],
            )
        }
        now = self.clock.now()
        since, most = iso_ms(now - WINDOW), self.device_limit_per_minute
        held: list[dict[str, Any]] = []
        operations: list[tuple[Any, int, tuple[Any, ...]]] = []
        for (device, attempts), device_id in zip(claimed, ids, strict=True):
            row = rows.get(device_id)
            recent = sorted(t for t in json.loads(row["sends"]) if t > since) if row else []
            if len(recent) >= most:
                free_at = parse_iso(recent[len(recent) - most]) + WINDOW
                held.append(held_back(job.notification_id, device, attempts, free_at))
                continue
            entity = {
                "PartitionKey": job.org_id,
                "RowKey": RATE_PREFIX + device_id,
                "sends": json.dumps([*recent, iso_ms(now)]),
            }
            operation = ("update", entity, row.etag) if row else ("create", entity)
            operations.append((device, attempts, operation))
        allowed: list[tuple[Any, int]] = []
        for won, (device, attempts, _) in zip(
            tables.write_each(table, [op for _, _, op in operations]), operations, strict=True
        ):
            if won:
                allowed.append((device, attempts))
            else:  # another notification's worker took a slot meanwhile: look again shortly
                held.append(held_back(job.notification_id, device, attempts, now + timedelta(seconds=1)))
        return allowed, held


def held_back(notification_id: str, device: Any, attempts: int, until: datetime) -> dict[str, Any]:
    """A device held back by the per-device limit: not an attempt, so its attempts are restored."""
    return {
        "PartitionKey": notification_id,
        "RowKey": str(device["RowKey"])[2:],
        "systemUserId": device.get("systemUserId"),
        "state": "retrying",
        "attempts": attempts,
        "notBefore": iso_ms(until),
        "errorCode": "DEVICE_RATE_LIMIT",
        "reason": "Held back: the device had Firebase's 240 messages of the last minute.",
    }
