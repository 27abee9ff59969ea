"""Notifications of one org accepted together: one transaction, one queue message, each fanned out.

Real Azurite (the module's own) and real firebase-admin against the FCM stand-in. The only thing
played is timing: an earlier write for the org held in flight, so the deliveries that arrive
meanwhile certainly meet in one batch, as they do under load.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from localdev.stack import wait_until
from shared.adapters.fcm import FcmSender
from shared.ids import new_id
from shared.notifications.models import FanoutJob, FanoutJobs
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.records import NOTIFICATIONS, QUEUE
from shared.notifications.service import _ACCEPTING, NotificationService
from shared.storage.router import AccountStorage
from tests.integration.fanout_rig import (
    PARTNER,
    MovableClock,
    cipher,
    deliveries,
    make_fanout,
    register,
    rows,
)


def delivery(org: str, notification_id: str) -> NewNotification:
    return NewNotification(
        org_id=org,
        source="webhook",
        recipients=None,
        payload=Payload("Opportunity won", "Contoso signed", {}, None),
        notification_id=notification_id,
    )


def run(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=call()))
    thread.start()
    return thread, outcome


def drain(account: AccountStorage) -> list[str]:
    queue = account.queue(QUEUE)
    found = []
    for message in queue.receive_messages(max_messages=32, visibility_timeout=30):
        found.append(message.content)
        queue.delete_message(message)
    return found


def test_deliveries_arriving_together_share_a_write_and_a_message_and_each_reaches_its_devices(
    account: AccountStorage, sender: FcmSender
) -> None:
    clock = MovableClock()
    org = str(uuid.uuid4())
    tokens = [f"gc-{uuid.uuid4()}" for _ in range(2)]
    register(account, clock, org, tokens)
    service = NotificationService(account, PARTNER, clock, cipher())
    drain(account)

    # A delivery already stored and being sent: a retry of it must not queue it again.
    taken = new_id()
    service.accept(delivery(org, taken))
    drain(account)
    account.table(NOTIFICATIONS).update_entity({"PartitionKey": org, "RowKey": taken, "state": "sending"})

    release, holding = threading.Event(), threading.Event()

    def in_flight(items: list[Any]) -> list[Any]:
        holding.set()
        release.wait(timeout=10)
        return [("earlier", True)] * len(items)

    earlier, _ = run(lambda: _ACCEPTING.submit((account.label, org), None, in_flight))
    holding.wait(timeout=10)
    fresh = [new_id() for _ in range(5)]
    arriving = [*fresh, fresh[2], taken]  # one delivery sent twice at once, and the late retry
    callers = [run(lambda i=i: service.accept(delivery(org, i))) for i in arriving]
    wait_until(
        lambda: len(_ACCEPTING._pending.get((account.label, org), ())) == len(arriving),
        what="the deliveries waiting behind the write in flight",
    )
    release.set()
    for thread, _ in [(earlier, None), *callers]:
        thread.join(timeout=30)

    answers = [outcome["result"] for _, outcome in callers]
    assert answers[:5] == [(i, True) for i in fresh]
    assert answers[5] == (fresh[2], False)  # the same delivery twice is one notification
    assert answers[6] == (taken, False)
    stored = {
        str(r["RowKey"])
        for r in account.table(NOTIFICATIONS).query_entities("PartitionKey eq @pk", parameters={"pk": org})
    }
    assert stored == {taken, *fresh}
    messages = drain(account)
    assert len(messages) == 1  # five notifications, one queue message
    grouped = FanoutJobs.model_validate_json(messages[0])
    assert sorted(j.notification_id for j in grouped.jobs) == sorted(fresh)

    # One job of the group cannot be run (its payload does not open): it is queued again on its
    # own, to be retried and poisoned by itself, and the others are sent all the same.
    broken = grouped.jobs[0]
    jobs = [broken.model_copy(update={"payload": "v1.k1.AAAA"}), *grouped.jobs[1:]]
    fanout = make_fanout(account, clock, sender, first_shard_inline=True)
    fanout.handle_message(FanoutJobs(jobs=jobs).model_dump_json(by_alias=True))

    for job in grouped.jobs[1:]:
        outcomes = rows(account, job.notification_id)
        assert sorted(r["state"] for r in outcomes.values()) == ["sent", "sent"]
    assert rows(account, broken.notification_id) == {}
    assert all(deliveries(token) == 4 for token in tokens)
    again = wait_until(lambda: drain(account), timeout=30, what="the failed job queued again")
    assert [FanoutJob.model_validate_json(m).notification_id for m in again] == [broken.notification_id]
