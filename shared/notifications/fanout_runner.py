"""The fan-out's shard jobs: chunks claimed and sent, one outcome per device, retries, completion.

See `shared.notifications.fanout` for the claims that keep it to one final outcome per device.
"""

from __future__ import annotations

import bisect
import json
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.fcm import DeleteDevice, Failed, KeepAndAlert, PushMessage, Retry, Sent
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.notifications.devices import DeviceRegistry, Target
from shared.notifications.fanout_store import FanoutSettings, FanoutStore, Restrictions, Sender
from shared.notifications.models import FanoutJob
from shared.notifications.payload import Payload
from shared.notifications.ratelimit import DeviceRateLimit, iso_ms
from shared.notifications.records import (
    DELIVERIES,
    FINAL_STATES,
    PAYLOADS,
    QUEUE,
    SHARD_PREFIX,
    outcome_rows,
)
from shared.storage import tables
from shared.storage.queues import enqueue
from shared.storage.tables import literal
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

_MAX_DELAY_SECONDS = 6 * 24 * 3600  # queue messages live 7 days
CLAIM_PREFIX = "~claim"  # `~claim<shard>-<chunk>` rows: first attempts of a planned chunk claimed


class ShardRunner:
    """Runs shard jobs of one region: sends within each device's rate, skipping restricted users."""

    _slots: dict[int, threading.BoundedSemaphore] = {}
    _slots_lock = threading.Lock()

    def __init__(  # noqa: PLR0917 - the adapters a shard job works with
        self,
        store: FanoutStore,
        account: AccountStorage,
        clock: Clock,
        devices: DeviceRegistry,
        sender: Sender,
        meter: UsageMeter | None,
        settings: FanoutSettings,
        *,
        restricted: Restrictions,
    ):
        # Required: a fan-out that forgot whose processing is restricted would notify them anyway.
        self.restricted = restricted
        self.store = store
        self.account = account
        self.clock = clock
        self.devices = devices
        self.sender = sender
        self.meter = meter
        self.settings = settings
        self.rate_limit = DeviceRateLimit(
            account,
            devices.table,
            clock,
            device_limit_per_minute=settings.device_limit_per_minute,
            attempts_per_minute=settings.attempts_per_minute,
        )
        with self._slots_lock:
            size = settings.concurrent_sends
            self._sem = self._slots.setdefault(size, threading.BoundedSemaphore(size))

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
        rows = outcome_rows(
            self.account.table(DELIVERIES),
            notification_id,
            low,
            high,
            ["RowKey", "state", "attempts", "claimedAt", "notBefore"],
        )
        return {str(r["RowKey"]): r for r in rows}

    def run(self, job: FanoutJob) -> None:  # noqa: PLR0912, PLR0915 - one pass over a shard, kept in one place
        from azure.core.exceptions import ResourceNotFoundError

        row = self.store.get_notification(job)
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
        cuts: list[str] = json.loads(shard["cuts"]) if shard.get("cuts") else []
        now = self.clock.now()
        existing = self._existing(job.notification_id, low, high)
        claims = self._chunk_claims(job) if cuts else {}
        lease = timedelta(seconds=self.settings.claim_lease_seconds)
        to_send: list[tuple[Any, Any]] = []  # (device row, existing delivery row or None)
        fresh: dict[int, list[tuple[Any, Any]]] = {}  # chunk -> first attempts, claimed as one
        finals: list[dict[str, Any]] = []
        waits: list[datetime] = []
        seen: set[str] = set()
        for device in self.store.list_matching(row, low, high):
            device_id = str(device["RowKey"])[2:]
            seen.add(device_id)
            delivery: Any = existing.get(device_id)
            state = delivery.get("state") if delivery is not None else None
            if state in FINAL_STATES:
                continue
            if state is None and cuts:
                chunk_index = max(0, bisect.bisect_right(cuts, device_id) - 1)
                claim = claims.get(chunk_index)
                if claim is None:
                    fresh.setdefault(chunk_index, []).append((device, None))
                elif parse_iso(claim["claimedAt"]) + lease > now:
                    waits.append(parse_iso(claim["claimedAt"]) + lease)  # its worker may still record it
                else:
                    finals.append(_unknown(job.notification_id, device_id))
            elif state == "sending":
                claimed = parse_iso(delivery["claimedAt"])
                if claimed + lease > now:
                    waits.append(claimed + lease)
                else:
                    finals.append(_unknown(job.notification_id, device_id))
            elif state == "retrying":
                not_before = parse_iso(delivery["notBefore"])
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
        if to_send or fresh:
            skip = self.restricted(self.account, job.org_id)
            if skip:
                # Written as final before anything is sent, so a retried job skips them too.
                held = [d for d, _ in [*to_send, *(p for part in fresh.values() for p in part)]]
                finals.extend(
                    _final(
                        job.notification_id,
                        str(d["RowKey"])[2:],
                        "RESTRICTED",
                        "The user restricted processing.",
                    )
                    for d in held
                    if str(d.get("systemUserId")) in skip
                )
                to_send = [p for p in to_send if str(p[0].get("systemUserId")) not in skip]
                fresh = {
                    index: kept
                    for index, part in fresh.items()
                    if (kept := [p for p in part if str(p[0].get("systemUserId")) not in skip])
                }
        payload = self._payload(job.notification_id, job.payload)
        if payload is None and (to_send or fresh):
            expired = to_send + [d for part in fresh.values() for d in part]
            finals.extend(
                _final(job.notification_id, str(d["RowKey"])[2:], "PAYLOAD_EXPIRED", "The message expired.")
                for d, _ in expired
            )
            to_send, fresh = [], {}
        self._write(finals)
        # Each device's state as this job wrote or read it; None: another worker has it.
        known: dict[str, str | None] = {key: r.get("state") for key, r in existing.items()}
        known.update((str(r["RowKey"]), str(r["state"])) for r in finals)
        alerts = 0
        if payload is not None:
            for chunk_index, part in sorted(fresh.items()):
                alerts += self._send_chunk(job, payload, part, known, chunk_index)
            for start in range(0, len(to_send), self.settings.chunk_size):
                chunk = to_send[start : start + self.settings.chunk_size]
                alerts += self._send_chunk(job, payload, chunk, known)
        if alerts:
            self._alert(job, alerts)
        # Devices waiting for their retry time, and devices another worker is sending to (a
        # duplicate job): the shard is not done until they have their outcomes. When this job
        # wrote a final outcome for every device, there is nothing to read back.
        if all(state in FINAL_STATES for state in known.values()):
            after: dict[str, Any] = {key: {"state": state} for key, state in known.items()}
        else:
            after = self._existing(job.notification_id, low, high)
            if any(state is None and key not in after for key, state in known.items()):
                # A chunk another worker claimed and has not recorded yet: it does, or its
                # devices get their outcome once the claim's lease is over.
                waits.append(self.clock.now() + lease)
        for r in after.values():
            if r.get("state") == "retrying":
                waits.append(parse_iso(r["notBefore"]))
            elif r.get("state") == "sending":
                waits.append(parse_iso(r["claimedAt"]) + lease)
        if waits:
            if job.round + 1 > self.settings.max_rounds:
                self._give_up(job, after)
                after = self._existing(job.notification_id, low, high)
            else:
                delay = (min(waits) - self.clock.now()).total_seconds()
                delay_seconds = int(min(_MAX_DELAY_SECONDS, max(1.0, delay + 0.999)))
                enqueue(
                    self.account.queue(QUEUE),
                    job.model_copy(update={"round": job.round + 1}),
                    delay_seconds=delay_seconds,
                )
                return
        self._finish_shard(job, shard_key, after)

    def _send_chunk(
        self,
        job: FanoutJob,
        payload: Payload,
        chunk: list[tuple[Any, Any]],
        known: dict[str, str | None],
        chunk_index: int | None = None,
    ) -> int:
        """Claims, sends and records one chunk: first attempts of a planned chunk (`chunk_index`) are
        claimed with one row, every other device with its own delivery row."""
        if chunk_index is None:
            claimed = self._claim(job, chunk)
        else:
            claimed = [(device, 0) for device, _ in chunk] if self._claim_chunk(job, chunk_index) else []
        known.update((str(device["RowKey"])[2:], None) for device, _ in chunk)
        if claimed and self.rate_limit.org_busy(job.org_id):
            claimed, held = self.rate_limit.reserve(job, claimed)
            self._write(held)
            known.update((str(r["RowKey"]), "retrying") for r in held)
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
        attempts_of = {
            str(device["RowKey"])[2:]: (attempts, device.get("systemUserId")) for device, attempts in claimed
        }
        for outcome in outcomes:
            attempts, user = attempts_of[outcome.device_id]
            base = {
                "PartitionKey": job.notification_id,
                "RowKey": outcome.device_id,
                "attempts": attempts + 1,
                "systemUserId": user,
            }
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
                rows.append({**failure, "state": "retrying", "notBefore": iso_ms(later)})
            elif isinstance(outcome.action, DeleteDevice):
                self.devices.delete(org_id, outcome.device_id, hashes.get(outcome.device_id))
                rows.append({**failure, "state": "failed", "deviceDeleted": True})
            else:
                alerts += isinstance(outcome.action, KeepAndAlert)
                rows.append({**failure, "state": "failed"})
        self._write(rows)
        known.update((str(r["RowKey"]), str(r["state"])) for r in rows)
        return alerts

    def _chunk_claims(self, job: FanoutJob) -> dict[int, Any]:
        prefix = f"{CLAIM_PREFIX}{job.shard:05d}-"
        rows = tables.query_json(
            self.account.table(DELIVERIES),
            f"PartitionKey eq {literal(job.notification_id)} and RowKey ge {literal(prefix)} "
            f"and RowKey lt {literal(prefix + '~')}",
            select=["RowKey", "claimedAt"],
        )
        return {int(str(r["RowKey"])[len(prefix) :]): r for r in rows}

    def _claim_chunk(self, job: FanoutJob, chunk_index: int) -> bool:
        """One row claims the first attempts of a planned chunk; only one worker creates it."""
        entity = {
            "PartitionKey": job.notification_id,
            "RowKey": f"{CLAIM_PREFIX}{job.shard:05d}-{chunk_index:04d}",
            "claimedAt": iso_ms(self.clock.now()),
        }
        return tables.write_each(self.account.table(DELIVERIES), [("create", entity)])[0]

    def _claim(self, job: FanoutJob, chunk: list[tuple[Any, Any]]) -> list[tuple[Any, int]]:
        """Claims devices for this worker; returns (device row, earlier attempts) of those it won."""
        table = self.account.table(DELIVERIES)
        claimed_at = iso_ms(self.clock.now())
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
                operation = ("update", entity, tables.Row.of(delivery).etag)
            operations.append((device, attempts, operation))
        applied = tables.write_each(table, [op for _, _, op in operations])
        return [
            (device, attempts) for (device, attempts, _), won in zip(operations, applied, strict=True) if won
        ]

    def _write(self, rows: list[dict[str, Any]]) -> None:
        tables.write(self.account.table(DELIVERIES), [("merge", r) for r in rows])

    def _give_up(self, job: FanoutJob, existing: dict[str, Any]) -> None:
        rows = [
            _final(job.notification_id, key, "GAVE_UP", "Delivery was retried too often.")
            for key, r in existing.items()
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

    def _finish_shard(self, job: FanoutJob, shard_key: str, existing: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        rows = existing.values()
        sent = sum(1 for r in rows if r.get("state") == "sent")
        failed = sum(1 for r in rows if r.get("state") == "failed")
        if sent and self.meter is not None:
            # Billed once the shard's outcomes are final, from the outcomes themselves: a worker
            # killed between a send and its record leaves an unknown outcome, which is not billed,
            # and a shard finished twice (killed before `done` below) writes the same key again.
            key = f"{job.notification_id}.{job.shard:05d}"
            self.meter.record(job.partner_id, Unit.NOTIFICATIONS_SENT, key=key, amount=sent)
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
        shards = self.store.list_shards(job.notification_id)
        if all(s.get("state") == "done" for s in shards):
            # Only a complete plan can be completed: while planning goes on, more shards come, and
            # the planner's last step completes the notification if every shard is done by then.
            # (This shard wrote `done` before reading the plan, the planner marks the plan before
            # reading the shards: one of the two sees the other.)
            planned = self.store.get_notification(job)
            if planned is not None and planned.get("shards") is not None:
                self.store.complete(job, shards)


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
