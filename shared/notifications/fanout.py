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

Who does what: `FanOut` (here) is the entry the queue trigger calls; `ShardPlanner`
(`fanout_planner.py`) plans and dispatches shards; `ShardRunner` (`fanout_runner.py`) claims,
sends and records chunks, within each device's rate (`ratelimit.py`); `FanoutStore`
(`fanout_store.py`) reads the notification, its recipients' devices and shard rows for both, and
completes the notification (the planner's last step or the last shard's, whichever comes later).

Nothing here logs or stores a title, body, token or installation id.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from shared.clock import Clock
from shared.notifications.devices import DeviceRegistry
from shared.notifications.fanout_planner import ShardPlanner
from shared.notifications.fanout_runner import ShardRunner
from shared.notifications.fanout_store import FanoutSettings, FanoutStore, Restrictions, Sender
from shared.notifications.models import FanoutJob, FanoutJobs
from shared.notifications.records import QUEUE
from shared.storage.queues import enqueue
from shared.usage import UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

__all__ = ["FanOut", "FanoutSettings", "Restrictions", "Sender"]

log = logging.getLogger("tenantry.fanout")

_ALONE_DELAY_SECONDS = 5  # as the host's visibilityTimeout before a failed message's next try
_MESSAGE: TypeAdapter[FanoutJob | FanoutJobs] = TypeAdapter(FanoutJob | FanoutJobs)


class FanOut:
    """The queue trigger's entry: a planning job goes to the planner, a shard job to the runner."""

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
        self.account = account
        self.settings = settings or FanoutSettings()
        self.store = FanoutStore(account, clock, devices)
        # `restricted` is required: a fan-out that forgot whose processing is restricted would
        # notify them anyway.
        self.runner = ShardRunner(
            self.store, account, clock, devices, sender, meter, self.settings, restricted=restricted
        )
        self.planner = ShardPlanner(self.store, self.settings, self.runner.run)

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
            self.planner.plan(job)
        else:
            self.runner.run(job)
