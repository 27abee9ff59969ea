"""The fan-out rig the notification integration tests share: devices, notifications, queued jobs, rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from localdev.stack import wait_until
from shared.adapters.fcm import FcmSender
from shared.notifications.devices import DeviceRegistry
from shared.notifications.fanout import FanOut, FanoutSettings
from shared.notifications.models import DeviceIn, FanoutJob
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.records import DELIVERIES, QUEUE
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.privacy.flags import restricted_in_org
from shared.storage.router import AccountStorage
from shared.usage import UsageMeter
from tests.stack import FCM, STACK_ENV

PARTNER = "01TESTPARTNER0000000000000"


class MovableClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def cipher() -> TokenCipher:
    return TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])


def registry(account: AccountStorage, clock: MovableClock) -> DeviceRegistry:
    return DeviceRegistry(account, clock, cipher(), STACK_ENV["API_KEY_PEPPER"])


def make_fanout(account: AccountStorage, clock: MovableClock, sender: FcmSender, **options: Any) -> FanOut:
    """A fan-out whose planning job only plans (unless told otherwise): the tests run each shard."""
    options.setdefault("first_shard_inline", False)
    options.setdefault("later_shard_factor", 1)  # equal shards unless a test is about their sizes
    return FanOut(
        account,
        clock,
        registry(account, clock),
        sender,
        UsageMeter(account, clock),
        FanoutSettings(**options),
        restricted=restricted_in_org,
    )


def register(
    account: AccountStorage, clock: MovableClock, org: str, tokens: list[str], user: str | None = None
) -> dict[str, str]:
    """token -> device id, through the registry's own registration."""
    devices = registry(account, clock)
    made = {}
    for token in tokens:
        created, _ = devices.register(
            org, DeviceIn(system_user_id=uuid.UUID(user) if user else uuid.uuid4(), token=token)
        )
        made[token] = created.id
    return made


def notify(
    account: AccountStorage, clock: MovableClock, org: str, recipients: list[str] | None = None
) -> str:
    service = NotificationService(account, PARTNER, clock, cipher())
    notification_id, _ = service.accept(
        NewNotification(
            org_id=org,
            source="partner",
            recipients=recipients,
            payload=Payload("Case assigned", "CAS-01234 needs you", {"kind": "case"}, None),
        )
    )
    queue = account.queue(QUEUE)

    def planning_job() -> FanoutJob | None:
        for message in queue.receive_messages(max_messages=32, visibility_timeout=1):
            found = FanoutJob.model_validate_json(message.content)
            if found.notification_id == notification_id:
                queue.delete_message(message)
                return found
        return None

    # The job as queued (the small payload rides sealed in it); the tests run it themselves.
    QUEUED[notification_id] = wait_until(planning_job, what="the planning job in the queue")
    return notification_id


QUEUED: dict[str, FanoutJob] = {}


def job(org: str, notification_id: str, shard: int | None = None, round_: int = 0) -> FanoutJob:
    queued = QUEUED[notification_id]
    assert queued.org_id == org and queued.payload  # sealed: not the text
    assert "CAS-01234" not in queued.model_dump_json()
    return queued.model_copy(update={"shard": shard, "round": round_})


def rows(account: AccountStorage, notification_id: str) -> dict[str, Any]:
    table = account.table(DELIVERIES)
    return {
        str(r["RowKey"]): r
        for r in table.query_entities(
            "PartitionKey eq @pk and RowKey lt '~'", parameters={"pk": notification_id}
        )
    }


def deliveries(token: str) -> int:
    return len(FCM.state.deliveries_to("token", token))
