"""Devices written straight into an org's device table, as registration stores them.

Registering thousands of browsers over HTTP would spend the test's time on registration, not on
the fault; the rows are the registry's own (`device_entity`), written in transactions of 100.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.clock import isoformat
from shared.ids import new_id
from shared.notifications.devices import TABLE, device_entity
from shared.notifications.models import DeviceIn
from shared.notifications.secrets import TokenCipher
from shared.storage.router import AccountStorage


def seed_devices(account: AccountStorage, env: dict[str, str], org_id: str, count: int) -> dict[str, str]:
    """`count` active devices of distinct users of the org; device id -> FCM token."""
    cipher = TokenCipher(env["DEVICE_TOKEN_KEY"])
    table = account.table(TABLE)
    now = isoformat(datetime.now(UTC))
    made: dict[str, str] = {}
    batch = []
    for index in range(count):
        device_id, token = new_id(), f"fault-{index:06d}-{uuid.uuid4().hex}"
        body = DeviceIn.model_validate({"systemUserId": str(uuid.uuid4()), "token": token})
        # The device's secret is never presented here (these browsers only receive), so no hash of one.
        batch.append(
            (
                "upsert",
                device_entity(
                    org_id,
                    device_id,
                    body,
                    cipher=cipher,
                    pepper=env["API_KEY_PEPPER"],
                    secret_hash="-",
                    now=now,
                ),
            )
        )
        made[device_id] = token
        if len(batch) == 100:
            table.submit_transaction(batch)
            batch = []
    if batch:
        table.submit_transaction(batch)
    return made
