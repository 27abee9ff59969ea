"""The fan-out: one notification to every active device of its recipients, one final outcome each.

Jobs (queue `notifyfanout` of the org's region, ids only; notifications of one org accepted
together arrive as one message holding their planning jobs, see `handle_message`):
- the planning job (`shard` None) reads the recipients' active devices in device id order and
  closes a shard every `shard_size` of them (`~shard<nnnnn>` rows in the notification's
  `notifydeliveries` partition: low, high, and the first device id of each chunk), dispatching
  each as soon as its row exists: the first on the planner's own thread (sending starts while
  planning goes on, without waiting for another poll), the rest as queued jobs so a large
  notification spreads over the host's concurrent jobs and over instances. Only at the end is the
  plan marked complete (`shards` and `deviceCount` on the notification row); until then no shard
  can complete the notification. A planner that dies is continued by the retried job after the
  last shard row's `high`; two planners at once each create a shard row only if it does not
  exist yet, and the loser continues after the winner's rows, so shard ranges stay disjoint;
- a shard job sends to the devices of its range in chunks of at most 500 (one firebase-admin
  `send_each_async` each) and writes each device's outcome; devices that must be retried
  (UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED with its 60 s floor, ...) get `retrying` with a
  `notBefore`, and the shard job is queued again with that visibility delay; only those devices
  are sent again. Attempts are bounded by the adapter's policy (then the device fails) and rounds
  by `max_rounds`.

Exactly one final outcome per device, nobody notified twice, across crashes and duplicate jobs:
before a chunk is sent it is *claimed*, in a way only one worker can win. A first attempt is
claimed per planned chunk: one `~claim<shard>-<chunk>` row, created (409 for everyone after the
first), covering the chunk's devices that have no delivery row yet; the chunk boundaries were
fixed by the planner, so every worker cuts the same chunks. A later attempt is claimed per
device: its `retrying` row moves to `sending` under its ETag. After the call, each device's
outcome row is written (`sent`, `failed`, or `retrying`).

The window, stated precisely: a worker that dies after claiming a chunk and before its outcome
rows are written (one `send_each_async` call plus five table transactions: well under a
second with FCM answering in time, at most the call's timeout) leaves that chunk's devices, at
most 500 per call in flight (`concurrent_sends` calls per process), without an outcome, and
nobody can know which of their messages Firebase accepted: FCM HTTP v1 has no idempotency key
and answers with the message name only after accepting. A later job waits out the claim lease
(a send cannot still be in flight after it) and then gives exactly those devices the final
outcome `failed` with reason "outcome unknown", rather than sending again: we prefer missing one
push to doubling it. Were the dead worker only slow, its late outcome replaces that one (still one
row per device). The message carries the notification id in `data`, which a client can use as the
Notification `tag`, so that even a duplicate from Firebase's side replaces rather than repeats.

FCM's limits. 600,000 messages a minute per project: paced per process by the adapter (its
`max_messages_per_minute` is this process's share). 240 a minute per device: a device only
receives one message per notification and attempt, so only an organisation with enough
notifications active in the last minute (`device_limit_per_minute / attempts_per_minute`, 48 by
default; counted once per process every few seconds) can reach it. For such an org each device's
sends of the last minute are kept in its `r_<device id>` row and taken under ETag before a send;
a device at the limit is held back (`retrying`, error code DEVICE_RATE_LIMIT, not counted as an
attempt) until its oldest send leaves the minute: delayed, not dropped; its final outcome comes
within `max_rounds` rounds like any retry.

Nothing here logs or stores a title, body, token or installation id.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter

from shared.adapters.fcm import (
    FCM_DEVICE_LIMIT_PER_MINUTE,
    DeleteDevice,
    Failed,
    KeepAndAlert,
    PushMessage,
    Retry,
    SendOutcome,
    Sent,
)
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.notifications.devices import DeviceRegistry, Target
from shared.notifications.models import FanoutJob, FanoutJobs
from shared.notifications.payload import Payload
from shared.notifications.ratelimit import DeviceRateLimit, iso_ms
from shared.notifications.records import (
    DELIVERIES,
    FINAL_STATES,
    NOTIFICATIONS,
    PAYLOADS,
    QUEUE,
    SHARD_PREFIX,
    outcome_rows,
    summary_rows,
)
from shared.storage import tablequery, tables
from shared.storage.queues import enqueue
from shared.storage.tablequery import ETAG, literal
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.fanout")

_MAX_DELAY_SECONDS = 6 * 24 * 3600  # queue messages live 7 days
_ALONE_DELAY_SECONDS = 5  # as the host's visibilityTimeout before a failed message's next try
_MESSAGE: TypeAdapter[FanoutJob | FanoutJobs] = TypeAdapter(FanoutJob | FanoutJobs)
CLAIM_PREFIX = "~claim"  # `~claim<shard>-<chunk>` rows: first attempts of a planned chunk claimed


class Sender(Protocol):
    def send(self, messages: Sequence[PushMessage]) -> list[SendOutcome]: ...


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


@dataclass
class _Dispatch:
    """What one planning job has sent on its way: each open shard once, the first on its own thread."""

    inline: bool
    dispatched: set[str] = field(default_factory=set)
    running: Future[None] | None = None


# The system users of an org who restricted or objected to processing (the privacy area answers).
Restrictions = Callable[["AccountStorage", str], frozenset[str]]


class FanOut:
    _slots: dict[int, threading.BoundedSemaphore] = {}
    _slots_lock = threading.Lock()

    def __init__(  # noqa: PLR0917 - the adapters a fan-out works with
        self,
        account: AccountStorage,
        clock: Clock,
        devices: DeviceRegistry,
        sender: Sender,
        meter: UsageMeter | None = None,
        settings: FanoutSettings | None = None,
        *,
        restricted: Restrictions,
    ):
        # Required: a fan-out that forgot whose processing is restricted would notify them anyway.
        self.restricted = restricted
        self.account = account
        self.clock = clock
        self.devices = devices
        self.sender = sender
        self.meter = meter
        self.settings = settings or FanoutSettings()
        self.rate_limit = DeviceRateLimit(
            account,
            devices.table,
            clock,
            device_limit_per_minute=self.settings.device_limit_per_minute,
            attempts_per_minute=self.settings.attempts_per_minute,
        )
        with self._slots_lock:
            size = self.settings.concurrent_sends
            self._sem = self._slots.setdefault(size, threading.BoundedSemaphore(size))

    def handle_message(self, raw: bytes | str) -> None:
        """A queue message: one job, or the planning jobs of notifications accepted together.

        A job of a group that fails is queued again on its own, so it is retried (and, failing
        for good, poisoned) by itself while the others go on; a retried group repeats only what
        its jobs' claims let through.
        """
        message = _MESSAGE.validate_json(raw)
        if isinstance(message, FanoutJob):
            self.handle(message)
            return
        for job in message.jobs:
            try:
                self.handle(job)
            except Exception as error:
                log.warning(
                    "fan-out job %s failed (%s); queued again on its own",
                    job.notification_id, type(error).__name__,
                )  # fmt: skip
                enqueue(self.account.queue(QUEUE), job, delay_seconds=_ALONE_DELAY_SECONDS)

    def handle(self, job: FanoutJob) -> None:
        if job.shard is None:
            self.plan(job)
        else:
            self.run_shard(job)

    # --- planning --------------------------------------------------------------------------

    def _notification(self, job: FanoutJob) -> Any:
        # None: the org was deleted meanwhile. Read lean, as are shard rows: every job reads them,
        # and the SDK's decoding was most of what a notification for nobody cost.
        return tablequery.get(self.account.table(NOTIFICATIONS), job.org_id, job.notification_id)

    @staticmethod
    def _recipients(row: Any) -> set[str] | None:
        text = str(row.get("recipients") or "everyone")
        return None if text == "everyone" else {str(u).lower() for u in json.loads(text)}

    def _matching(
        self, row: Any, low: str | None = None, high: str | None = None, *, targets: bool = True
    ) -> Iterable[Any]:
        users = self._recipients(row)
        created = str(row["createdAt"])
        for device in self.devices.active_in(str(row["PartitionKey"]), low, high, targets=targets):
            if users is not None and str(device.get("systemUserId")) not in users:
                continue
            if str(device.get("createdAt") or "") > created:
                continue  # registered after the notification was made
            yield device

    def _shards(self, notification_id: str) -> list[Any]:
        return list(summary_rows(self.account.table(DELIVERIES), notification_id, SHARD_PREFIX))

    def plan(self, job: FanoutJob) -> None:
        """Cuts the recipients' devices into shards while reading them, and dispatches each shard as
        soon as its row exists; resumable: a planner that died is continued after the last shard
        row's `high`. The plan is complete (`shards` on the notification row) only at the end."""
        row = self._notification(job)
        if row is None or row.get("state") == "completed":
            return
        with ThreadPoolExecutor(max_workers=1) as inline_pool:
            state = _Dispatch(inline=self.settings.first_shard_inline)
            try:
                shards = self._shards(job.notification_id)
                for shard in shards:
                    self._dispatch(job, shard, state, inline_pool)
                if row.get("shards") is None:
                    shards = self._plan_rest(job, row, shards, state, inline_pool)
                    if not shards:  # nobody to send to: planned and completed in one write
                        self._complete(job, planned=True)
                        return
                    self._mark_planned(job, shards)
                    # A shard that finished before the plan was complete could not complete the
                    # notification; if every shard is already done, this is the last step.
                    shards = self._shards(job.notification_id)
                    if all(s.get("state") == "done" for s in shards):
                        self._complete(job, shards)
                elif all(s.get("state") == "done" for s in shards):
                    self._complete(job, shards)  # a planner died between marking and completing
            finally:
                if state.running is not None:
                    state.running.result()  # the first shard's errors are this job's: it is retried

    def _plan_rest(
        self, job: FanoutJob, row: Any, shards: list[Any], state: _Dispatch, inline_pool: ThreadPoolExecutor
    ) -> list[Any]:
        """Reads the devices after the last shard row's `high`, closing a shard every `shard_size`.

        Shard rows have deterministic keys (`~shard<index>`) and are only ever created: when one
        already exists, another planner (a redelivered job) wrote it; this one reads the shard rows
        again and continues after the last one's `high`. Each shard's `low` is thus above the
        previous shard's `high` whoever wrote either, so ranges stay disjoint even when two planners
        saw different devices (registered or unregistered meanwhile)."""
        while True:
            after = str(shards[-1]["high"]) if shards else None
            ids: list[str] = []
            conflict = False
            for device in self._matching(row, after, targets=False):
                device_id = str(device["RowKey"])[2:]
                if after is not None and device_id <= after:
                    continue
                ids.append(device_id)
                if len(ids) == self._shard_size(len(shards)):
                    conflict = not self._close_shard(job, len(shards), ids, shards, state, inline_pool)
                    if conflict:
                        break
                    ids = []
            if not conflict and ids:
                conflict = not self._close_shard(job, len(shards), ids, shards, state, inline_pool)
            if not conflict:
                return shards
            shards = self._shards(job.notification_id)
            for shard in shards:
                self._dispatch(job, shard, state, inline_pool)

    def _shard_size(self, index: int) -> int:
        factor = 1 if index < self.settings.small_shards else self.settings.later_shard_factor
        return self.settings.shard_size * factor

    def _close_shard(  # noqa: PLR0917 - the planner's running state
        self,
        job: FanoutJob,
        index: int,
        ids: list[str],
        shards: list[Any],
        state: _Dispatch,
        inline_pool: ThreadPoolExecutor,
    ) -> bool:
        """Creates one shard row and dispatches it; False if another planner created it first."""
        shard = {
            "PartitionKey": job.notification_id,
            "RowKey": f"{SHARD_PREFIX}{index:05d}",
            "low": ids[0],
            "high": ids[-1],
            "devices": len(ids),
            "state": "open",
            # First device id of each chunk: fixed here, so every worker cuts the shard into the
            # same chunks whatever happens to its devices meanwhile.
            "cuts": json.dumps(ids[:: self.settings.chunk_size]),
        }
        if not tables.write_each(self.account.table(DELIVERIES), [("create", shard)])[0]:
            return False
        shards.append(shard)
        self._dispatch(job, shard, state, inline_pool)
        return True

    def _dispatch(
        self, job: FanoutJob, shard: Any, state: _Dispatch, inline_pool: ThreadPoolExecutor
    ) -> None:
        """Sends an open shard on its way once per planning job: the first one on this job's own
        thread pool (not waiting for the queue to be polled again, nor for planning to end), the
        others through the queue. Should this job die, the queue retries it, and planning again
        dispatches every open shard (a duplicate shard job is harmless)."""
        key = str(shard["RowKey"])
        if shard.get("state") == "done" or key in state.dispatched:
            return
        state.dispatched.add(key)
        shard_job = job.model_copy(update={"shard": int(key[len(SHARD_PREFIX) :]), "round": 0})
        if state.inline and state.running is None:
            state.running = inline_pool.submit(self.run_shard, shard_job)
        else:
            enqueue(self.account.queue(QUEUE), shard_job)

    def _mark_planned(self, job: FanoutJob, shards: list[Any]) -> None:
        from azure.data.tables import UpdateMode

        count = sum(int(s.get("devices") or 0) for s in shards)
        self.account.table(NOTIFICATIONS).update_entity(
            {
                "PartitionKey": job.org_id,
                "RowKey": job.notification_id,
                "state": "sending",
                "deviceCount": count,
                "shards": len(shards),
            },
            mode=UpdateMode.MERGE,
        )
        log.info("notification %s: %d devices in %d shards", job.notification_id, count, len(shards))

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
        rows = outcome_rows(
            self.account.table(DELIVERIES),
            notification_id,
            low,
            high,
            ["RowKey", "state", "attempts", "claimedAt", "notBefore"],
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
        for device in self._matching(row, low, high):
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
                self.devices.remove(org_id, outcome.device_id, hashes.get(outcome.device_id))
                rows.append({**failure, "state": "failed", "deviceDeleted": True})
            else:
                alerts += isinstance(outcome.action, KeepAndAlert)
                rows.append({**failure, "state": "failed"})
        self._write(rows)
        known.update((str(r["RowKey"]), str(r["state"])) for r in rows)
        if sent and self.meter is not None:
            self.meter.add(job.partner_id, Unit.NOTIFICATIONS_SENT, sent)
        return alerts

    def _chunk_claims(self, job: FanoutJob) -> dict[int, Any]:
        prefix = f"{CLAIM_PREFIX}{job.shard:05d}-"
        rows = tablequery.query(
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
                operation = ("update", entity, delivery[ETAG])
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
            # Only a complete plan can be completed: while planning goes on, more shards come, and
            # the planner's last step completes the notification if every shard is done by then.
            # (This shard wrote `done` before reading the plan, the planner marks the plan before
            # reading the shards: one of the two sees the other.)
            planned = self._notification(job)
            if planned is not None and planned.get("shards") is not None:
                self._complete(job, shards)

    def _complete(self, job: FanoutJob, shards: list[Any] | None = None, *, planned: bool = False) -> None:
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
