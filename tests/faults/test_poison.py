"""A message no handler can process, on every queue of the app, ends in `<queue>-poison` with why.

The local host runs the real triggers with host.json's retries (5 attempts, 5 s apart); every queue
function the app registers gets one message naming its region's partner and one naming nobody, all
at once, so the module waits for one message's retries, not twenty queues' in turn. The reason is
recorded in `poisonmessages` (never the body: each message carries a canary that must not appear),
and the partner sees a `queue.message.poisoned` event through the API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from localdev.stack import wait_until
from shared.audit.poison import ACTION, SYSTEM_PARTITION, TABLE
from shared.storage import tables
from shared.storage.router import StorageRouter
from tests.e2e.actors import PartnerSetup, make_partner
from tests.faults.report import record
from tests.web import web


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue: str
    connection: str  # the app setting naming the region's storage
    region: str


def queue_functions() -> list[QueueFunction]:
    """Every queue trigger the app registers, as the host indexes them (no hand-kept list)."""
    import function_app

    found = []
    for function in function_app.app.get_functions():
        trigger = function.get_trigger().get_dict_repr()
        if trigger["type"] == "queueTrigger":
            connection = str(trigger["connection"])
            region = connection.removeprefix("TENANTRY_STORAGE_").lower()
            found.append(
                QueueFunction(function.get_function_name(), str(trigger["queueName"]), connection, region)
            )
    return found


@dataclass
class Sent:
    function: QueueFunction
    message_id: str
    partner: PartnerSetup | None
    canary: str


@cache
def _queue(connection_string: str, name: str) -> Any:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(connection_string, name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def _poisoned_ids(stack_env: dict[str, str], function: QueueFunction) -> set[str]:
    """The canaries of the messages in the function's poison queue."""
    client = _queue(stack_env[function.connection], f"{function.queue}-poison")
    found = set()
    for message in client.peek_messages(max_messages=32):
        text = base64.b64decode(message.content).decode("utf-8", "replace")
        found |= {word for word in text.replace('"', " ").split() if word.startswith("canary-")}
    return found


def test_an_unprocessable_message_of_every_queue_is_poisoned_with_its_reason_and_event(
    api: str, stack_env: dict[str, str], router: StorageRouter
) -> None:
    functions = queue_functions()
    regions = sorted({f.region for f in functions})
    assert len(functions) >= 10 * len(regions), [f.name for f in functions]
    partners = {region: make_partner(api, region) for region in regions}

    sent: list[Sent] = []
    for function in functions:
        client = _queue(stack_env[function.connection], function.queue)
        partner = partners[function.region]
        named = f"canary-{uuid.uuid4().hex}"
        # Valid JSON naming the partner, but no handler's message: every model misses its ids. The
        # extra field stands in for content a broken sender put there; it must not be recorded.
        body = json.dumps({"partnerId": partner.id, "token": named})
        message = client.send_message(base64.b64encode(body.encode()).decode())
        sent.append(Sent(function, str(message.id), partner, named))
        anonymous = f"canary-{uuid.uuid4().hex}"
        message = client.send_message(base64.b64encode(f"not json {anonymous}".encode()).decode())
        sent.append(Sent(function, str(message.id), None, anonymous))

    def all_poisoned() -> bool | None:
        waiting = [s for s in sent if s.canary not in _poisoned_ids(stack_env, s.function)]
        return True if not waiting else None

    # Five attempts 5 s apart, polled every 2 s at most: about 25 s per message, all in parallel.
    wait_until(all_poisoned, timeout=120, what="every message in its poison queue")

    wrong: list[str] = []
    for item in sent:
        table = router.region(item.function.region).table(TABLE)
        partition = item.partner.id if item.partner else SYSTEM_PARTITION
        row = tables.get(table, partition, f"{item.function.queue}~{item.message_id}")
        if row is None:
            wrong.append(f"{item.function.name}: no record in {partition}")
            continue
        if not row["reason"] or not row["errorType"] or row["attempts"] != 5:
            wrong.append(f"{item.function.name}: record without a reason {row}")
        if item.canary in json.dumps(dict(row)):
            wrong.append(f"{item.function.name}: the message body reached the record")

    for region, partner in partners.items():
        answer = web.get(
            f"{partner.url}/events", params={"action": ACTION, "top": 100}, headers=partner.bearer()
        )
        assert answer.status_code == 200, answer.text
        events = answer.json()["items"]
        seen = {(e["target"]["queue"], e["target"]["id"]): e for e in events}
        for item in sent:
            if item.partner is not partner:
                continue
            event = seen.get((item.function.queue, item.message_id))
            if event is None:
                wrong.append(f"{item.function.name}: no event for partner {region}")
            elif not event["details"].get("reason") or item.canary in json.dumps(event):
                wrong.append(f"{item.function.name}: event without a reason, or with the body: {event}")
        # Messages that named nobody are no partner's events.
        assert len([e for e in events if e["action"] == ACTION]) == len(
            [s for s in sent if s.partner is partner]
        )

    record("poison-message-per-queue", injected=len(sent), survived=not wrong)
    assert wrong == []


def test_a_failure_recorded_twice_tells_the_partner_once(api: str, router: StorageRouter) -> None:
    """The recording step may itself run again (the host died after it, before moving the
    message): one record, one event."""
    from functions import deps

    partner = make_partner(api, "eu")
    message_id = str(uuid.uuid4())
    body = json.dumps({"partnerId": partner.id}).encode()
    for _ in range(2):
        made = deps.poison_messages("eu").record("tenantsync", message_id, body, ValueError("bad message"), 5)
    assert made.partner_id == partner.id and made.reason == "bad message"
    answer = web.get(f"{partner.url}/events", params={"action": ACTION}, headers=partner.bearer())
    assert [e["target"]["id"] for e in answer.json()["items"]] == [message_id]
