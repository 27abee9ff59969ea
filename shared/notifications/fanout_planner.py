"""The fan-out's planning job: the recipients' devices cut into shards, each sent on its way.

See `shared.notifications.fanout` for how planning, shards and their claims fit together.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shared.notifications.fanout_store import FanoutSettings, FanoutStore
from shared.notifications.models import FanoutJob
from shared.notifications.records import DELIVERIES, NOTIFICATIONS, QUEUE, SHARD_PREFIX
from shared.storage import tables
from shared.storage.queues import enqueue

log = logging.getLogger("tenantry.fanout")


@dataclass
class _Dispatch:
    """What one planning job has sent on its way: each open shard once, the first on its own thread."""

    inline: bool
    dispatched: set[str] = field(default_factory=set)
    running: Future[None] | None = None


class ShardPlanner:
    """Plans one notification's shards; `run_shard` runs the first one on the planner's own thread."""

    def __init__(self, store: FanoutStore, settings: FanoutSettings, run_shard: Callable[[FanoutJob], None]):
        self.store = store
        self.account = store.account
        self.settings = settings
        self.run_shard = run_shard

    def plan(self, job: FanoutJob) -> None:
        """Cuts the recipients' devices into shards while reading them, and dispatches each shard as
        soon as its row exists; resumable: a planner that died is continued after the last shard
        row's `high`. The plan is complete (`shards` on the notification row) only at the end."""
        row = self.store.get_notification(job)
        if row is None or row.get("state") == "completed":
            return
        with ThreadPoolExecutor(max_workers=1) as inline_pool:
            state = _Dispatch(inline=self.settings.first_shard_inline)
            try:
                shards = self.store.list_shards(job.notification_id)
                for shard in shards:
                    self._dispatch(job, shard, state, inline_pool)
                if row.get("shards") is None:
                    shards = self._plan_rest(job, row, shards, state, inline_pool)
                    if not shards:  # nobody to send to: planned and completed in one write
                        self.store.complete(job, planned=True)
                        return
                    self._mark_planned(job, shards)
                    # A shard that finished before the plan was complete could not complete the
                    # notification; if every shard is already done, this is the last step.
                    shards = self.store.list_shards(job.notification_id)
                    if all(s.get("state") == "done" for s in shards):
                        self.store.complete(job, shards)
                elif all(s.get("state") == "done" for s in shards):
                    self.store.complete(job, shards)  # a planner died between marking and completing
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
            for device in self.store.list_matching(row, after, targets=False):
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
            shards = self.store.list_shards(job.notification_id)
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
