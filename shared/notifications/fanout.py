"""The fan-out: one notification to every active device of its recipients, one final outcome each.

Jobs (queue `notifyfanout` of the org's region, ids only):
- the planning job (`shard` None) lists the recipients' active devices, cuts them into shards of
  consecutive device ids (`~shard<nnnnn>` rows in the notification's `notifydeliveries`
  partition) and queues one job per shard, so a large notification spreads over instances;
- a shard job sends to the devices of its range in chunks of at most 500 (one firebase-admin
  `send_each` each) and writes each device's outcome; devices that must be retried (UNAVAILABLE,
  INTERNAL, QUOTA_EXCEEDED with its 60 s floor, ...) get `retrying` with a `notBefore`, and the shard
  job is queued again with that visibility delay; only those devices are sent again. Attempts are
  bounded by the adapter's policy (then the device fails) and rounds by `max_rounds`.

Exactly one final outcome per device, nobody notified twice, across crashes and duplicate jobs:
before a chunk is sent, every device in it is *claimed*: its delivery row is created (first
attempt) or moved from `retrying` under its ETag (later attempts) into `sending`, in entity-group
transactions. A claim succeeds for one worker only, so two jobs for the same shard never both send
to a device. After the call, outcomes are written (`sent`, `failed`, or `retrying`).

The window, stated: a worker killed after claiming a chunk and before writing its outcomes
leaves up to 500 devices in `sending`, and nobody can know whether Firebase accepted their
messages. A later job waits out the claim lease (a send cannot still be in flight after it) and
then gives those devices the final outcome `failed` with reason "outcome unknown", rather than
sending again: we prefer missing one push to doubling it. The message also carries the
notification id in `data`, which a client can use as the Notification `tag`, so that even a
duplicate from Firebase's side replaces rather than repeats.

Nothing here logs or stores a title, body, token or installation id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.fcm import DeleteDevice, Failed, KeepAndAlert, PushMessage, Retry, SendOutcome, Sent
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat
from shared.notifications.devices import DeviceRegistry, Target
from shared.notifications.models import FanoutJob
from shared.notifications.service import (
    DELIVERIES,
    FINAL_STATES,
    NOTIFICATIONS,
    PAYLOADS,
    QUEUE,
    SHARD_PREFIX,
    Payload,
)
from shared.storage import tablebatch
from shared.storage.queues import enqueue
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.fanout")

_MAX_DELAY_SECONDS = 6 * 24 * 3600  # queue messages live 7 days


class Sender(Protocol):
    def send(self, messages: Sequence[PushMessage]) -> list[SendOutcome]: ...


@dataclass(frozen=True)
class FanoutSettings:
    shard_size: int = 5000
    chunk_size: int = 500
    claim_lease_seconds: float = 120.0  # longer than one firebase-admin call can take
    max_rounds: int = 12
    concurrent_sends: int = 2  # per process: send_each runs one thread per message


def _parse(moment: Any) -> datetime:
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00"))


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FanOut:
    _slots: dict[int, threading.BoundedSemaphore] = {}
    _slots_lock = threading.Lock()
    # System users of an org who restricted or objected to processing (set by the composition root).
    restricted: Callable[[AccountStorage, str], frozenset[str]] | None = None

    def __init__(  # noqa: PLR0917 - the adapters a fan-out works with
        self,
        account: AccountStorage,
        clock: Clock,
        devices: DeviceRegistry,
        sender: Sender,
        meter: UsageMeter | None = None,
        settings: FanoutSettings | None = None,
    ):
        self.account = account
        self.clock = clock
        self.devices = devices
        self.sender = sender
        self.meter = meter
        self.settings = settings or FanoutSettings()
        with self._slots_lock:
            size = self.settings.concurrent_sends
            self._sem = self._slots.setdefault(size, threading.BoundedSemaphore(size))

    def handle(self, job: FanoutJob) -> None:
        if job.shard is None:
            self.plan(job)
        else:
            self.run_shard(job)

    # --- planning --------------------------------------------------------------------------

    def _notification(self, job: FanoutJob) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.account.table(NOTIFICATIONS).get_entity(job.org_id, job.notification_id)
        except ResourceNotFoundError:
            return None  # the org was deleted meanwhile

    @staticmethod
    def _recipients(row: Any) -> set[str] | None:
        text = str(row.get("recipients") or "everyone")
        return None if text == "everyone" else {str(u).lower() for u in json.loads(text)}

    def _matching(self, row: Any, low: str | None = None, high: str | None = None) -> Iterable[Any]:
        users = self._recipients(row)
        created = str(row["createdAt"])
        for device in self.devices.active_in(str(row["PartitionKey"]), low, high):
            if users is not None and str(device.get("systemUserId")) not in users:
                continue
            if str(device.get("createdAt") or "") > created:
                continue  # registered after the notification was made
            yield device

    def _shards(self, notification_id: str) -> list[Any]:
        return list(
            self.account.table(DELIVERIES).query_entities(
                "PartitionKey eq @pk and RowKey ge @low",
                parameters={"pk": notification_id, "low": SHARD_PREFIX},
            )
        )

    def plan(self, job: FanoutJob) -> None:
        from azure.data.tables import UpdateMode

        row = self._notification(job)
        if row is None or row.get("state") == "completed":
            return
        shards = self._shards(job.notification_id)
        if not shards:
            ids = [str(d["RowKey"])[2:] for d in self._matching(row)]
            size = self.settings.shard_size
            for index, start in enumerate(range(0, len(ids), size)):
                part = ids[start : start + size]
                shards.append(
                    {
                        "PartitionKey": job.notification_id,
                        "RowKey": f"{SHARD_PREFIX}{index:05d}",
                        "low": part[0],
                        "high": part[-1],
                        "devices": len(part),
                        "state": "open",
                    }
                )
            if not ids:
                self._complete(job)
                return
            table = self.account.table(DELIVERIES)
            try:
                for start in range(0, len(shards), 100):
                    tablebatch.submit(table, [("create", s) for s in shards[start : start + 100]])
            except tablebatch.BatchRefusedError as error:
                if error.status_code != 409:
                    raise
                shards = self._shards(job.notification_id)  # another planner was first: its shards
                if len(shards) * self.settings.shard_size < len(ids):
                    raise  # it is still writing them: this job is retried by the queue
            self.account.table(NOTIFICATIONS).update_entity(
                {
                    "PartitionKey": job.org_id,
                    "RowKey": job.notification_id,
                    "state": "sending",
                    "deviceCount": len(ids),
                    "shards": len(shards),
                },
                mode=UpdateMode.MERGE,
            )
            log.info("notification %s: %d devices in %d shards", job.notification_id, len(ids), len(shards))
        if not shards:
            self._complete(job)
            return
        for shard in shards:
            if shard.get("state") != "done":
                index = int(str(shard["RowKey"])[len(SHARD_PREFIX) :])
                enqueue(self.account.queue(QUEUE), job.model_copy(update={"shard": index, "round": 0}))

    # --- one shard -------------------------------------------------------------------------

    def _payload(self, notification_id: str, sealed_in_job: str | None) -> Payload | None:
        from azure.core.exceptions import ResourceNotFoundError

        if sealed_in_job is not None:
            return Payload.from_json(self.devices.cipher.open(sealed_in_job, notification_id))
        try:
            sealed = self.account.container(PAYLOADS).download_blob(notification_id).readall()
        except ResourceNotFoundError:
            return None
        return Payload.from_json(self.devices.cipher.open(sealed.decode(), notification_id))

    def _existing(self, notification_id: str, low: str, high: str) -> dict[str, Any]:
        rows = self.account.table(DELIVERIES).query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
            parameters={"pk": notification_id, "low": low, "high": high},
            results_per_page=1000,
        )
        return {str(r["RowKey"]): r for r in rows}

    def run_shard(self, job: FanoutJob) -> None:  # noqa: PLR0912, PLR0915 - one pass over a shard, kept in one place
        from azure.core.exceptions import ResourceNotFoundError

        row = self._notification(job)
        if row is None or row.get("state") == "completed":
            return
        shard_key = f"{SHARD_PREFIX}{job.shard:05d}"
        try:
            shard = self.account.table(DELIVERIES).get_entity(job.notification_id, shard_key)
        except ResourceNotFoundError:
            return
        if shard.get("state") == "done":
            return
        low, high = str(shard["low"]), str(shard["high"])
        now = self.clock.now()
        existing = self._existing(job.notification_id, low, high)
        lease = timedelta(seconds=self.settings.claim_lease_seconds)
        to_send: list[tuple[Any, Any]] = []  # (device row, existing delivery row or None)
        finals: list[dict[str, Any]] = []
        waits: list[datetime] = []
        seen: set[str] = set()
        for device in self._matching(row, low, high):
            device_id = str(device["RowKey"])[2:]
            seen.add(device_id)
            delivery: Any = existing.get(device_id)
            state = delivery.get("state") if delivery is not None else None
            if state in FINAL_STATES:
                continue
            if state == "sending":
                claimed = _parse(delivery["claimedAt"])
                if claimed + lease > now:
                    waits.append(claimed + lease)
                else:
                    finals.append(_unknown(job.notification_id, device_id))
            elif state == "retrying":
                not_before = _parse(delivery["notBefore"])
                if not_before > now:
                    waits.append(not_before)
                else:
                    to_send.append((device, delivery))
            else:
                to_send.append((device, None))
        for device_id, delivery in existing.items():
            if device_id not in seen and delivery.get("state") not in FINAL_STATES:
                finals.append(
                    _final(job.notification_id, device_id, "DEVICE_GONE", "The device unsubscribed.")
                )
        if self.restricted is not None and to_send:
            skip = self.restricted(self.account, job.org_id)
            finals.extend(
                _final(
                    job.notification_id, str(d["RowKey"])[2:], "RESTRICTED", "The user restricted processing."
                )
                for d, _ in to_send
                if str(d.get("systemUserId")) in skip
            )
            to_send = [(d, x) for d, x in to_send if str(d.get("systemUserId")) not in skip]
        payload = self._payload(job.notification_id, job.payload)
        if payload is None and to_send:
            finals.extend(
                _final(job.notification_id, str(d["RowKey"])[2:], "PAYLOAD_EXPIRED", "The message expired.")
                for d, _ in to_send
            )
            to_send = []
        self._write(finals)
        alerts = 0
        if payload is not None:
            for start in range(0, len(to_send), self.settings.chunk_size):
                alerts += self._send_chunk(job, payload, to_send[start : start + self.settings.chunk_size])
        if alerts:
            self._alert(job, alerts)
        # Devices waiting for their retry time, and devices another worker is sending to (a
        # duplicate job): the shard is not done until they have their outcomes.
        for r in self._existing(job.notification_id, low, high).values():
            if r.get("state") == "retrying":
                waits.append(_parse(r["notBefore"]))
            elif r.get("state") == "sending":
                waits.append(_parse(r["claimedAt"]) + lease)
        if waits:
            if job.round + 1 > self.settings.max_rounds:
                self._give_up(job, low, high)
            else:
                delay = (min(waits) - self.clock.now()).total_seconds()
                delay_seconds = int(min(_MAX_DELAY_SECONDS, max(1.0, delay + 0.999)))
                enqueue(
                    self.account.queue(QUEUE),
                    job.model_copy(update={"round": job.round + 1}),
                    delay_seconds=delay_seconds,
                )
                return
        self._finish_shard(job, shard_key, low, high)

    def _send_chunk(self, job: FanoutJob, payload: Payload, chunk: list[tuple[Any, Any]]) -> int:
        claimed = self._claim(job, chunk)
        if not claimed:
            return 0
        org_id = job.org_id
        messages: list[PushMessage] = []
        hashes: dict[str, str | None] = {}
        for device, attempts in claimed:
            target: Target = self.devices.open_target(org_id, device)
            hashes[target.device_id] = device.get("targetHash")
            messages.append(
                PushMessage(
                    device_id=target.device_id,
                    title=payload.title,
                    body=payload.body,
                    token=target.value if target.kind == "token" else None,
                    fid=target.value if target.kind == "fid" else None,
                    data={**payload.data, "notificationId": job.notification_id},
                    link=payload.link,
                    attempt=attempts,
                )
            )
        with self._sem:
            outcomes = self.sender.send(messages)
        now = self.clock.now()
        rows: list[dict[str, Any]] = []
        sent = alerts = 0
        for outcome in outcomes:
            base = {"PartitionKey": job.notification_id, "RowKey": outcome.device_id}
            if isinstance(outcome, Sent):
                sent += 1
                rows.append(
                    {
                        **base,
                        "state": "sent",
                        "messageId": outcome.message_name,
                        "sentAt": isoformat(outcome.sent_at),
                    }
                )
                continue
            assert isinstance(outcome, Failed)
            failure = {**base, "errorCode": outcome.error_code, "reason": outcome.reason}
            if isinstance(outcome.action, Retry):
                later = now + timedelta(seconds=outcome.action.after_seconds)
                rows.append({**failure, "state": "retrying", "notBefore": _iso_ms(later)})
            elif isinstance(outcome.action, DeleteDevice):
                self.devices.remove(org_id, outcome.device_id, hashes.get(outcome.device_id))
                rows.append({**failure, "state": "failed", "deviceDeleted": True})
            else:
                alerts += isinstance(outcome.action, KeepAndAlert)
                rows.append({**failure, "state": "failed"})
        self._write(rows)
        if sent and self.meter is not None:
            self.meter.add(job.partner_id, Unit.NOTIFICATIONS_SENT, sent)
        return alerts

    def _claim(self, job: FanoutJob, chunk: list[tuple[Any, Any]]) -> list[tuple[Any, int]]:
        """Claims devices for this worker; returns (device row, earlier attempts) of those it won."""
        table = self.account.table(DELIVERIES)
        claimed_at = _iso_ms(self.clock.now())
        operations: list[tuple[Any, int, tuple[Any, ...]]] = []
        for device, delivery in chunk:
            attempts = int(delivery.get("attempts") or 0) if delivery is not None else 0
            entity = {
                "PartitionKey": job.notification_id,
                "RowKey": str(device["RowKey"])[2:],
                "state": "sending",
                "attempts": attempts + 1,
                "claimedAt": claimed_at,
                "systemUserId": device.get("systemUserId"),
            }
            if delivery is None:
                operation: tuple[Any, ...] = ("create", entity)
            else:
                operation = ("update", entity, delivery.metadata["etag"])
            operations.append((device, attempts, operation))
        won: list[tuple[Any, int]] = []
        for start in range(0, len(operations), 100):
            group = operations[start : start + 100]
            try:
                tablebatch.submit(table, [op for _, _, op in group])
                won.extend((device, attempts) for device, attempts, _ in group)
                continue
            except tablebatch.BatchRefusedError as error:
                if error.status_code not in (409, 412):
                    raise
            for device, attempts, operation in group:  # another worker claimed some: one by one
                try:
                    tablebatch.submit(table, [operation])
                except tablebatch.BatchRefusedError as error:
                    if error.status_code in (409, 412):
                        continue
                    raise
                won.append((device, attempts))
        return won

    def _write(self, rows: list[dict[str, Any]]) -> None:
        table = self.account.table(DELIVERIES)
        for start in range(0, len(rows), 100):
            tablebatch.submit(table, [("merge", r) for r in rows[start : start + 100]])

    def _give_up(self, job: FanoutJob, low: str, high: str) -> None:
        rows = [
            _final(job.notification_id, key, "GAVE_UP", "Delivery was retried too often.")
            for key, r in self._existing(job.notification_id, low, high).items()
            if r.get("state") not in FINAL_STATES
        ]
        self._write(rows)

    def _alert(self, job: FanoutJob, devices: int) -> None:
        AuditLog(self.account, self.clock).append(
            job.partner_id,
            NewEvent(
                action="notification.push-credentials-refused",
                actor={"type": "system", "id": "fanout"},
                target={"type": "org", "id": job.org_id},
                details={
                    "notificationId": job.notification_id,
                    "devices": devices,
                    "errorCode": "THIRD_PARTY_AUTH_ERROR",
                    "action": "Check the web push (VAPID) and APNs credentials of the Firebase project.",
                },
            ),
        )

    def _finish_shard(self, job: FanoutJob, shard_key: str, low: str, high: str) -> None:
        from azure.data.tables import UpdateMode

        rows = self._existing(job.notification_id, low, high).values()
        sent = sum(1 for r in rows if r.get("state") == "sent")
        failed = sum(1 for r in rows if r.get("state") == "failed")
        self.account.table(DELIVERIES).update_entity(
            {
                "PartitionKey": job.notification_id,
                "RowKey": shard_key,
                "state": "done",
                "sent": sent,
                "failed": failed,
            },
            mode=UpdateMode.MERGE,
        )
        shards = self._shards(job.notification_id)
        if all(s.get("state") == "done" for s in shards):
            self._complete(job, shards)

    def _complete(self, job: FanoutJob, shards: list[Any] | None = None) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        shards = shards or []
        self.account.table(NOTIFICATIONS).update_entity(
            {
                "PartitionKey": job.org_id,
                "RowKey": job.notification_id,
                "state": "completed",
                "completedAt": isoformat(self.clock.now()),
                "sent": sum(int(s.get("sent") or 0) for s in shards),
                "failed": sum(int(s.get("failed") or 0) for s in shards),
            },
            mode=UpdateMode.MERGE,
        )
        if job.payload is None:  # it was in the transient blob
            with contextlib.suppress(ResourceNotFoundError):
                self.account.container(PAYLOADS).delete_blob(job.notification_id)
        log.debug("notification %s completed", job.notification_id)


def _final(notification_id: str, device_id: str, code: str, reason: str) -> dict[str, Any]:
    return {
        "PartitionKey": notification_id,
        "RowKey": device_id,
        "state": "failed",
        "errorCode": code,
        "reason": reason,
    }


def _unknown(notification_id: str, device_id: str) -> dict[str, Any]:
    return _final(
        notification_id,
        device_id,
        "OUTCOME_UNKNOWN",
        "The worker stopped while sending; not sent again, so that nobody gets it twice.",
    )
