"""Webhook ingest against real Azurite: the remembered org across instances, one insert per delivery.

A private Azurite, so no local host of the session takes the queued jobs before a test reads them.
"""

from __future__ import annotations

import uuid

from azure.storage.queue import QueueClient

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.notifications.models import FanoutJob, OrgIn, OrgPatch
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.records import QUEUE
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.storage.router import AccountStorage, StorageRouter
from tests.stack import STACK_ENV

PARTNER = "01TESTPARTNER0000000000001"
PEPPER = STACK_ENV["API_KEY_PEPPER"]
ACTION = ActionContext(Actor("operator", "test"))


class Ticks:
    """A monotonic clock moved by hand: one per simulated instance."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def instance(router: StorageRouter, ticks: Ticks) -> OrgService:
    return OrgService(
        router.region("eu"), PARTNER, "eu", OrgDirectory(router, monotonic=ticks), SystemClock(), PEPPER
    )


def new_org(service: OrgService) -> tuple[str, str]:
    body = OrgIn.model_validate(
        {"organizationId": str(uuid.uuid4()), "uniqueName": "c", "name": "C", "languageCode": 1033,
         "business": {"name": "C Ltd"}}
    )  # fmt: skip
    created = service.register(body, "http://localhost", ACTION)
    return created.id, created.webhook_key or ""


def _holds(service: OrgService, org_id: str, key: str) -> bool:
    """Whether the org as this instance sees it takes `key` as its webhook key."""
    return service.webhook_hashes.verify(key, service.authenticating(org_id).webhook_key_hash).ok


def test_another_instance_refuses_a_rotated_key_once_its_memory_expires(
    private_router: StorageRouter,
) -> None:
    here_ticks, there_ticks = Ticks(), Ticks()
    here, there = instance(private_router, here_ticks), instance(private_router, there_ticks)
    org_id, old_key = new_org(here)
    assert _holds(there, org_id, old_key)

    new_key = here.rotate(org_id, "webhook", ACTION).webhook_key or ""
    assert _holds(here, org_id, new_key)  # at once here
    there_ticks.now += OrgDirectory.ORG_CACHE_SECONDS - 0.5
    assert _holds(there, org_id, old_key)  # the bound
    there_ticks.now += 1.0
    assert _holds(there, org_id, new_key)


def test_a_read_that_began_before_a_change_does_not_put_the_old_org_back(
    private_router: StorageRouter,
) -> None:
    service = instance(private_router, Ticks())
    org_id, _ = new_org(service)
    directory = service.directory
    stale = service.get(org_id)
    _, generation = directory.remembered(org_id)  # a webhook starts reading the org...
    service.update(
        org_id, OrgPatch.model_validate({"webhookAuth": {"type": "HttpHeader", "headerName": "x-k"}}), ACTION
    )
    directory.remember(stale, generation)  # ...and finishes after the change
    assert service.authenticating(org_id).webhook_auth_type == "HttpHeader"


def _jobs(queue: QueueClient, notification_id: str) -> int:
    found = 0
    for message in queue.receive_messages(max_messages=32, visibility_timeout=1):
        if FanoutJob.model_validate_json(message.content).notification_id == notification_id:
            queue.delete_message(message)
            found += 1
    return found


def test_a_delivery_accepted_twice_is_one_notification_queued_again_only_while_accepted(
    account: AccountStorage,
) -> None:
    service = NotificationService(account, PARTNER, SystemClock(), TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"]))
    org_id = str(uuid.uuid4())
    delivery = NewNotification(
        org_id=org_id,
        source="webhook",
        recipients=[],
        payload=Payload("t", "b", {}, None),
        notification_id="01KKB6A6G0S8J6YJ0W1C7Q4Z9M",
    )
    queue = account.queue(QUEUE)
    assert service.accept(delivery) == ("01KKB6A6G0S8J6YJ0W1C7Q4Z9M", True)
    assert _jobs(queue, "01KKB6A6G0S8J6YJ0W1C7Q4Z9M") == 1
    # The first delivery's job may have been lost (it stopped before queueing): queued again.
    assert service.accept(delivery) == ("01KKB6A6G0S8J6YJ0W1C7Q4Z9M", False)
    assert _jobs(queue, "01KKB6A6G0S8J6YJ0W1C7Q4Z9M") == 1
    rows = list(
        account.table("notifications").query_entities("PartitionKey eq @pk", parameters={"pk": org_id})
    )
    assert [r["RowKey"] for r in rows] == ["01KKB6A6G0S8J6YJ0W1C7Q4Z9M"]
    # Once the fan-out has taken it, a late retry queues nothing.
    account.table("notifications").update_entity(
        {"PartitionKey": org_id, "RowKey": "01KKB6A6G0S8J6YJ0W1C7Q4Z9M", "state": "sending"}
    )
    assert service.accept(delivery) == ("01KKB6A6G0S8J6YJ0W1C7Q4Z9M", False)
    assert _jobs(queue, "01KKB6A6G0S8J6YJ0W1C7Q4Z9M") == 0
