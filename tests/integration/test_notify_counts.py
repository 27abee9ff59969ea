"""A notification's counts come from summary rows: right while sending, after completion, and under
acknowledgements arriving at once (real Azurite, real firebase-admin against the FCM stand-in)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.fcm import FcmSender
from shared.errors import ProblemError
from shared.notifications.records import DELIVERIES
from shared.notifications.service import NotificationService
from shared.storage.router import AccountStorage
from tests.integration.fanout_rig import (
    PARTNER,
    MovableClock,
    cipher,
    job,
    make_fanout,
    notify,
    register,
)


def test_counts_follow_the_shards_and_every_acknowledgement_counts_once(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    devices = register(account, clock, org, [f"count-{uuid.uuid4()}" for _ in range(30)])
    notification_id = notify(account, clock, org)
    service = NotificationService(account, PARTNER, clock, cipher())
    fanout = make_fanout(account, clock, sender, shard_size=10)
    fanout.handle(job(org, notification_id))  # plans three shards of ten

    fanout.handle(job(org, notification_id, shard=0))
    mid_way = service.get(org, notification_id)
    assert (mid_way.state, mid_way.sent, mid_way.pending) == ("sending", 10, 20)
    for shard in (1, 2):
        fanout.handle(job(org, notification_id, shard=shard))
    done = service.get(org, notification_id)
    assert (done.state, done.sent, done.failed, done.delivered) == ("completed", 30, 0, 0)

    # Every device acknowledges twice at the same moment: each counts once, each keeps one date.
    twice = [device for device in devices.values() for _ in range(2)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda d: service.delivered(notification_id, d, None), twice))
    dates = {(a.device_id, a.delivered_at) for a in answers}
    assert len(dates) == 30
    assert service.get(org, notification_id).delivered == 30
    counted = account.table(DELIVERIES).query_entities(
        "PartitionKey eq @pk and RowKey ge '~ack' and RowKey lt '~ack~'", parameters={"pk": notification_id}
    )
    assert sum(int(c["count"]) for c in counted) == 30

    with pytest.raises(ProblemError) as refused:
        service.delivered(notification_id, str(uuid.uuid4()), None)
    assert refused.value.status == 404
