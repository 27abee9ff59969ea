"""The fan-out against real Azurite and real firebase-admin talking to the FCM stand-in.

These tests get their own Azurite, so no local host of the session polls their queue: the jobs
run exactly when a test runs them (the queue itself is checked where it matters).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from functions import deps
from localdev.azurite import REPO
from localdev.stack import wait_until
from shared.adapters.fcm import FcmSender
from shared.audit.log import AuditLog, iter_all
from shared.notifications.fanout import FanOut, FanoutSettings
from shared.notifications.fanout_planner import ShardPlanner
from shared.notifications.models import FanoutJob
from shared.notifications.records import DELIVERIES, PAYLOADS, QUEUE
from shared.notifications.service import NotificationService
from shared.privacy.flags import restricted_in_org
from shared.storage.router import AccountStorage, StorageRouter
from shared.usage import Unit, UsageMeter
from tests.integration.fanout_rig import (
    PARTNER,
    MovableClock,
    cipher,
    deliveries,
    job,
    make_fanout,
    notify,
    register,
    registry,
    rows,
)
from tests.stack import FCM


@pytest.fixture(autouse=True)
def standin_defaults() -> Iterator[None]:
    yield
    httpx.post(FCM.base_url + "/_standin/latency", json={"ms": 0, "jitter_ms": 0})


def test_every_failure_class_gets_its_outcome_and_only_failed_devices_are_retried(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    run = uuid.uuid4().hex[:8]
    tokens = {
        "ok": [f"ok-{run}-{i}" for i in range(5)],
        "unregistered": [f"unregistered-{run}"],
        "mismatch": [f"mismatch-{run}"],
        "invalid": [f"invalid-{run}"],
        "thirdparty": [f"thirdparty-{run}"],
        "flaky": [f"unavailable-once-{run}"],
        "quota": [f"quota-{run}"],
    }
    ids = register(account, clock, org, [t for group in tokens.values() for t in group])
    notification_id = notify(account, clock, org)
    fanout = make_fanout(account, clock, sender, shard_size=4)
    fanout.handle(job(org, notification_id))
    shards = list(
        account.table(DELIVERIES).query_entities(
            f"PartitionKey eq '{notification_id}' and RowKey ge '~shard'"
        )
    )
    assert len(shards) == 3  # 11 devices, 4 per shard
    for index in range(3):
        fanout.handle(job(org, notification_id, index))

    state = rows(account, notification_id)
    assert len(state) == 11
    by_token = {t: state[ids[t]] for group in tokens.values() for t in group}
    assert all(
        by_token[t]["state"] == "sent" and by_token[t]["messageId"].startswith("projects/")
        for t in tokens["ok"]
    )
    for dead in ("unregistered", "mismatch", "invalid"):
        row = by_token[tokens[dead][0]]
        assert row["state"] == "failed" and row["deviceDeleted"] is True, dead
        assert registry(account, clock).get(org, ids[tokens[dead][0]]) is None
    third = by_token[tokens["thirdparty"][0]]
    assert third["state"] == "failed" and not third.get("deviceDeleted")
    assert registry(account, clock).get(org, ids[tokens["thirdparty"][0]]) is not None
    alerts = [
        e
        for e in iter_all(AuditLog(account, clock), PARTNER)
        if e["action"] == "notification.push-credentials-refused"
    ]
    assert len(alerts) == 1 and alerts[0]["details"]["notificationId"] == notification_id
    flaky, quota = by_token[tokens["flaky"][0]], by_token[tokens["quota"][0]]
    assert flaky["state"] == quota["state"] == "retrying"
    assert datetime.fromisoformat(quota["notBefore"].replace("Z", "+00:00")) >= clock.now() + timedelta(
        seconds=59
    )
    # The retry is a delayed queue message: there, but invisible now.
    queue = account.queue(QUEUE)
    visible = [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]
    assert all(m["round"] == 0 for m in visible)
    assert queue.get_queue_properties().approximate_message_count > len(visible)

    # The retry round, once its time has come: only the failed devices are sent again.
    sends_before = {t: deliveries(t) for t in tokens["ok"]}
    clock.offset = timedelta(minutes=20)
    for index in range(3):
        fanout.handle(job(org, notification_id, index, 1))
    state = rows(account, notification_id)
    assert state[ids[tokens["flaky"][0]]]["state"] == "sent"
    assert state[ids[tokens["flaky"][0]]]["attempts"] == 2
    assert {t: deliveries(t) for t in tokens["ok"]} == sends_before == dict.fromkeys(tokens["ok"], 1)
    # QUOTA_EXCEEDED every time: bounded attempts, then failed.
    for round_ in range(2, 8):
        clock.offset += timedelta(hours=1)
        fanout.handle(job(org, notification_id, 2, round_))
    final = rows(account, notification_id)[ids[tokens["quota"][0]]]
    assert final["state"] == "failed" and "exhausted" in final["reason"]
    assert all(r["state"] in ("sent", "failed") for r in rows(account, notification_id).values())

    view = NotificationService(account, PARTNER, clock, cipher()).get(org, notification_id)
    assert view.state == "completed" and (view.sent, view.failed) == (6, 5)
    assert (
        UsageMeter(account, clock).month(PARTNER, f"{clock.now():%Y-%m}")[Unit.NOTIFICATIONS_SENT.value] == 6
    )
    assert list(account.container(PAYLOADS).list_blobs(name_starts_with=notification_id)) == []


def test_the_planning_job_sends_the_first_shard_itself_and_queues_only_the_rest(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"inline-{uuid.uuid4().hex}" for _ in range(5)]
    register(account, clock, org, tokens)
    notification_id = notify(account, clock, org)
    fanout = make_fanout(account, clock, sender, shard_size=3, first_shard_inline=True)
    fanout.handle(job(org, notification_id))
    assert sum(deliveries(t) for t in tokens) == 3  # shard 0, without waiting for the queue
    queued = [
        FanoutJob.model_validate_json(m.content)
        for m in account.queue(QUEUE).peek_messages(max_messages=32)
        if FanoutJob.model_validate_json(m.content).notification_id == notification_id
    ]
    assert [q.shard for q in queued] == [1]
    fanout.handle(queued[0])
    assert [deliveries(t) for t in tokens] == [1] * 5
    view = NotificationService(account, PARTNER, clock, cipher()).get(org, notification_id)
    assert view.state == "completed" and view.sent == 5


def test_duplicate_jobs_running_at_once_notify_nobody_twice(
    account: AccountStorage, sender: FcmSender
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"dup-{uuid.uuid4().hex}" for _ in range(60)]
    register(account, clock, org, tokens)
    notification_id = notify(account, clock, org)
    fanout = make_fanout(account, clock, sender, chunk_size=20)
    fanout.handle(job(org, notification_id))
    httpx.post(FCM.base_url + "/_standin/latency", json={"ms": 30})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: fanout.handle(job(org, notification_id, 0)), range(4)))
    assert [deliveries(t) for t in tokens] == [1] * 60
    state = rows(account, notification_id)
    assert len(state) == 60 and all(r["state"] == "sent" for r in state.values())
    # A job that lost a chunk to another never closes the shard before that chunk is recorded
    # (it queues itself again instead); whichever job closes it counts every device.
    service = NotificationService(account, PARTNER, clock, cipher())
    view = service.get(org, notification_id)
    assert view.state == "sending" or (view.state, view.sent, view.failed) == ("completed", 60, 0)
    fanout.handle(job(org, notification_id, 0, 1))  # the queue's next round for the shard
    view = service.get(org, notification_id)
    assert (view.state, view.sent, view.failed) == ("completed", 60, 0)


def test_a_device_at_fcms_per_minute_limit_is_held_back_then_sent_not_dropped(
    account: AccountStorage, sender: FcmSender
) -> None:
    """FCM allows 240 messages a minute per device; here the limit is 3 so that 5 notifications cross it."""
    clock = MovableClock()
    org = str(uuid.uuid4())
    busy = f"rate-{uuid.uuid4().hex}"
    ids = register(account, clock, org, [busy])
    notifications = [notify(account, clock, org) for _ in range(5)]
    fanout = make_fanout(account, clock, sender, device_limit_per_minute=3, attempts_per_minute=1)
    first_send = clock.now()
    for notification_id in notifications:
        fanout.handle(job(org, notification_id))
        fanout.handle(job(org, notification_id, 0))
    assert deliveries(busy) == 3
    held = [rows(account, n)[ids[busy]] for n in notifications[3:]]
    for row in held:
        assert row["state"] == "retrying" and row["errorCode"] == "DEVICE_RATE_LIMIT"
        not_before = datetime.fromisoformat(row["notBefore"].replace("Z", "+00:00"))
        assert not_before >= first_send + timedelta(seconds=59)  # when the oldest send leaves the minute
        assert row["attempts"] == 0  # held back is not an attempt
    # After the minute, the held notifications reach the device: delayed, not dropped.
    clock.offset = timedelta(seconds=61)
    for notification_id in notifications[3:]:
        fanout.handle(job(org, notification_id, 0, 1))
    assert deliveries(busy) == 5
    for notification_id in notifications:
        row = rows(account, notification_id)[ids[busy]]
        assert row["state"] == "sent" and row["attempts"] == 1
        view = NotificationService(account, PARTNER, clock, cipher()).get(org, notification_id)
        assert view.state == "completed" and (view.sent, view.failed) == (1, 0)


def test_unsubscribed_devices_stop_at_once_and_keep_no_token(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    user = str(uuid.uuid4())
    tokens = [f"unsub-{uuid.uuid4().hex}" for _ in range(2)]
    ids = register(account, clock, org, tokens, user)
    registry(account, clock).unsubscribe(org, ids[tokens[0]])
    tombstone = registry(account, clock).get(org, ids[tokens[0]])
    assert tombstone["status"] == "unsubscribed" and tombstone["unsubscribedAt"]
    assert "target" not in tombstone and "footprint" not in tombstone and "secretHash" not in tombstone
    notification_id = notify(account, clock, org, [user])
    fanout = make_fanout(account, clock, sender)
    fanout.handle(job(org, notification_id))
    fanout.handle(job(org, notification_id, 0))
    assert (deliveries(tokens[0]), deliveries(tokens[1])) == (0, 1)
    # Tokens are sealed at rest: neither the token nor its text appears in the device row.
    raw = json.dumps(dict(registry(account, clock).get(org, ids[tokens[1]])), default=str)
    assert tokens[1] not in raw


CRASH_WORKER = """
import json, os, sys
from datetime import UTC, datetime
from functions import deps
from shared.adapters.fcm import FcmSender, FcmSettings
from shared.notifications.devices import DeviceRegistry
from shared.notifications.fanout import FanOut, FanoutSettings
from shared.privacy.flags import restricted_in_org
from shared.notifications.models import FanoutJob
from shared.notifications.secrets import TokenCipher
from shared.storage.router import StorageRouter
from shared.usage import UsageMeter

config = deps.settings()
account = StorageRouter(config).region("eu")
class Clock:
    def now(self): return datetime.now(UTC)
sender = FcmSender(FcmSettings(config.firebase_project_id, config.firebase_service_account.get_secret_value(),
                               config.firebase_fcm_url))
devices = DeviceRegistry(account, Clock(), TokenCipher(config.device_token_key.get_secret_value()),
                         config.api_key_pepper.get_secret_value())
fanout = FanOut(account, Clock(), devices, sender, UsageMeter(account, Clock()),
                FanoutSettings(chunk_size=25, concurrent_sends=1),
                restricted=restricted_in_org)
print("ready", flush=True)
fanout.handle(FanoutJob.model_validate_json(sys.argv[1]))
print("finished", flush=True)
"""


def unrecorded(account: AccountStorage, notification_id: str) -> int:
    """Devices of claimed chunks (`~claim` rows, 25 devices each here) with no outcome row yet."""
    claims = list(
        account.table(DELIVERIES).query_entities(
            f"PartitionKey eq '{notification_id}' and RowKey ge '~claim' and RowKey lt '~claim~'"
        )
    )
    return len(claims) * 25 - len(rows(account, notification_id))


def test_a_worker_killed_mid_fan_out_leaves_one_final_outcome_per_device_and_nobody_notified_twice(
    account: AccountStorage, sender: FcmSender, private_stack: dict[str, str]
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"crash-{uuid.uuid4().hex}" for _ in range(300)]
    ids = register(account, clock, org, tokens)
    notification_id = notify(account, clock, org)
    fanout = make_fanout(account, clock, sender, chunk_size=25)
    fanout.handle(job(org, notification_id))
    httpx.post(FCM.base_url + "/_standin/latency", json={"ms": 150})
    worker = subprocess.Popen(
        [sys.executable, "-c", CRASH_WORKER, job(org, notification_id, 0).model_dump_json()],
        cwd=REPO,
        env={**os.environ, **private_stack, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:

        def mid_chunk() -> bool:
            if sum(deliveries(t) for t in tokens) < 50:
                return False
            # Frozen (SIGSTOP) first, so the check and the kill see the same moment.
            worker.send_signal(signal.SIGSTOP)
            if unrecorded(account, notification_id):
                return True
            worker.send_signal(signal.SIGCONT)  # between two chunks: let it claim the next one
            return False

        # Killed while a chunk is claimed and being sent (each send takes the stand-in's 150 ms).
        wait_until(mid_chunk, timeout=60, what="the worker to be in the middle of a chunk")
    finally:
        worker.kill()  # SIGKILL: no cleanup, no outcome written for the chunk in flight
        worker.wait()
    httpx.post(FCM.base_url + "/_standin/latency", json={"ms": 0})
    assert sum(deliveries(t) for t in tokens) < len(tokens), "the worker finished before it was killed"

    # The queue redelivers the job. Within the claim lease it must not touch the claimed chunk...
    in_flight = unrecorded(account, notification_id)
    assert 0 < in_flight <= 25
    fanout.handle(job(org, notification_id, 0))
    assert len(rows(account, notification_id)) == len(tokens) - in_flight
    # ...after it, the claimed chunk gets its final outcome without being sent again.
    clock.offset = timedelta(minutes=10)
    fanout.handle(job(org, notification_id, 0, 1))

    state = rows(account, notification_id)
    assert sorted(state) == sorted(ids.values())
    assert all(r["state"] in ("sent", "failed") for r in state.values())
    counts = {t: deliveries(t) for t in tokens}
    assert max(counts.values()) == 1, "someone was notified twice"
    unknown = [t for t in tokens if state[ids[t]]["state"] == "failed"]
    assert all(state[ids[t]]["errorCode"] == "OUTCOME_UNKNOWN" for t in unknown)
    assert len(unknown) == in_flight  # exactly the chunk in flight, none sent again
    assert all(counts[t] == 1 for t in tokens if state[ids[t]]["state"] == "sent")
    # Billed: exactly the devices recorded as sent, each once, though a worker died mid-chunk
    # (whatever its last step was: its unknown outcomes are not billed).
    keys = f"notificationsSent~{notification_id}"
    billed = account.table("usage").query_entities(
        f"PartitionKey eq '{PARTNER}-{clock.now():%Y-%m}' and RowKey ge '{keys}.' and RowKey lt '{keys}/'"
    )
    assert sum(row["amount"] for row in billed) == sum(1 for r in state.values() if r["state"] == "sent")


def test_the_privacy_sweep_removes_unsubscribed_device_tombstones(
    account: AccountStorage, private_router: StorageRouter
) -> None:
    from shared.privacy.retention import SweepScope

    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"sweep-{uuid.uuid4().hex}" for _ in range(3)]
    ids = register(account, clock, org, tokens)
    registry(account, clock).unsubscribe(org, ids[tokens[0]])
    rule = next(
        r for r in deps.retention_registry().rules() if r.name == "notifications.unsubscribed-devices"
    )
    scope = SweepScope("eu", account, private_router, clock.now())
    due = [c for c in rule.candidates(scope, None) if c.ref[0] == org]
    assert [c.ref[1] for c in due] == [f"d_{ids[tokens[0]]}"]
    assert rule.delete(scope, due[0]) is True
    assert rule.delete(scope, due[0]) is False
    assert registry(account, clock).get(org, ids[tokens[0]]) is None
    assert all(registry(account, clock).get(org, ids[t])["status"] == "active" for t in tokens[1:])


class PlannerKilledError(Exception):
    pass


class DyingPlanner(ShardPlanner):
    """A planning job that dies once `rows` shard rows exist, the last one written but not yet sent
    on its way: as a worker killed mid-planning would leave it."""

    def __init__(self, fanout: FanOut, *, rows: int) -> None:
        super().__init__(fanout.store, fanout.settings, fanout.runner.run)
        self.rows = rows
        self.dispatched = 0

    def _dispatch(self, job: FanoutJob, shard: Any, state: Any, inline_pool: Any) -> None:
        if self.dispatched + 1 == self.rows:
            raise PlannerKilledError
        self.dispatched += 1
        super()._dispatch(job, shard, state, inline_pool)


def shard_rows(account: AccountStorage, notification_id: str) -> list[Any]:
    return list(
        account.table(DELIVERIES).query_entities(
            f"PartitionKey eq '{notification_id}' and RowKey ge '~shard' and RowKey lt '~shard~'"
        )
    )


def run_queued_shards(account: AccountStorage, fanout: FanOut, notification_id: str) -> list[int]:
    """Runs every shard job of the notification the queue holds (as the host would); their indexes."""
    queue, ran = account.queue(QUEUE), []
    while True:
        found = [
            (message, FanoutJob.model_validate_json(message.content))
            for message in queue.receive_messages(max_messages=32, visibility_timeout=30)
        ]
        mine = [(m, j) for m, j in found if j.notification_id == notification_id]
        if not mine:
            return ran
        for message, queued in mine:
            queue.delete_message(message)
            fanout.handle(queued)
            ran.append(queued.shard)


def test_the_first_shards_are_small_so_sending_starts_early_and_the_rest_are_larger(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = f"org-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    register(account, clock, org, [f"ok-{run}-{i}" for i in range(13)])
    notification_id = notify(account, clock, org)
    fanout = make_fanout(account, clock, sender, shard_size=2, small_shards=2, later_shard_factor=3)
    fanout.handle(job(org, notification_id))
    assert [int(r["devices"]) for r in shard_rows(account, notification_id)] == [2, 2, 6, 3]


def test_a_planner_killed_half_way_is_continued_and_nobody_is_notified_twice(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"replan-{uuid.uuid4().hex}" for _ in range(50)]
    ids = register(account, clock, org, tokens)
    notification_id = notify(account, clock, org)
    service = NotificationService(account, PARTNER, clock, cipher())
    dying = DyingPlanner(
        FanOut(
            account,
            clock,
            registry(account, clock),
            sender,
            None,
            FanoutSettings(shard_size=5, chunk_size=2, first_shard_inline=False, later_shard_factor=1),
            restricted=restricted_in_org,
        ),
        rows=5,
    )
    with pytest.raises(PlannerKilledError):
        dying.plan(job(org, notification_id))
    assert len(shard_rows(account, notification_id)) == 5  # of 10: killed half-way
    fanout = make_fanout(account, clock, sender, shard_size=5, chunk_size=2)
    # The shards it sent on its way go out meanwhile; finishing them does not complete the
    # notification, whose plan is not complete.
    assert sorted(run_queued_shards(account, fanout, notification_id)) == [0, 1, 2, 3]
    assert service.get(org, notification_id).state != "completed"
    # Devices come and go while planning is unfinished.
    gone = sorted(ids.values())[-1]
    registry(account, clock).unsubscribe(org, gone)
    clock.offset = timedelta(seconds=2)  # registration times are kept to the second
    late = register(account, clock, org, [f"late-{uuid.uuid4().hex}"])

    fanout.handle(job(org, notification_id))  # the queue retries the planning job
    assert sorted(run_queued_shards(account, fanout, notification_id)) == list(range(4, 10))

    shards = sorted(shard_rows(account, notification_id), key=lambda s: s["RowKey"])
    assert all(a["high"] < b["low"] for a, b in itertools.pairwise(shards))  # disjoint
    state = rows(account, notification_id)
    assert sorted(state) == sorted(set(ids.values()) - {gone})  # one outcome each, late one excluded
    assert all(r["state"] == "sent" for r in state.values())
    assert [deliveries(t) for t in tokens if ids[t] != gone] == [1] * 49
    assert deliveries(next(iter(late))) == 0
    view = service.get(org, notification_id)
    assert (view.state, view.sent, view.failed) == ("completed", 49, 0)


def test_two_planners_interleaving_cut_disjoint_shards(account: AccountStorage, sender: FcmSender) -> None:
    """A redelivered planning job runs while the first is still planning: here the first one
    plans everything between the second one's read of the devices and its first shard row."""
    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"twice-{uuid.uuid4().hex}" for _ in range(30)]
    ids = register(account, clock, org, tokens)
    notification_id = notify(account, clock, org)
    first = make_fanout(account, clock, sender, shard_size=4)
    devices = registry(account, clock)
    # The first planner saw one device fewer (unregistered, then registered again as a new device,
    # between the two reads): the two planners would cut different boundaries.
    first_only = sorted(ids.values())[1]

    class Interleaved(ShardPlanner):
        overtaken = False

        def _close_shard(self, *args: Any) -> bool:
            if not self.overtaken:
                self.overtaken = True
                devices.unsubscribe(org, first_only)
                first.handle(job(org, notification_id))
            return super()._close_shard(*args)

    second_fanout = FanOut(
        account,
        clock,
        devices,
        sender,
        None,
        FanoutSettings(shard_size=4, first_shard_inline=False),
        restricted=restricted_in_org,
    )
    second = Interleaved(second_fanout.store, second_fanout.settings, second_fanout.runner.run)
    second.plan(job(org, notification_id))
    shards = sorted(shard_rows(account, notification_id), key=lambda s: s["RowKey"])
    assert all(a["high"] < b["low"] for a, b in itertools.pairwise(shards))
    run_queued_shards(account, first, notification_id)
    state = rows(account, notification_id)
    assert sorted(state) == sorted(set(ids.values()) - {first_only})
    assert max(deliveries(t) for t in tokens) == 1
    view = NotificationService(account, PARTNER, clock, cipher()).get(org, notification_id)
    assert (view.state, view.sent) == ("completed", 29)
