"""Device caps against real Azurite: counters under ETags, so racing registrations never pass a cap
together, a refusal leaves nothing behind, and counters that over-count heal by recounting."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest

from shared.clock import SystemClock
from shared.errors import ProblemError
from shared.notifications.devices import (
    DEVICE_PREFIX,
    INDEX_PREFIX,
    ORG_COUNTER,
    TABLE,
    DeviceLimits,
    DeviceRegistry,
    device_entity,
    user_counter_key,
)
from shared.notifications.models import DeviceIn
from shared.notifications.secrets import TokenCipher, hash_key
from shared.privacy.subjects import index
from shared.storage.router import AccountStorage
from tests.stack import STACK_ENV

PEPPER = STACK_ENV["API_KEY_PEPPER"]


def registry(account: AccountStorage, **limits: int) -> DeviceRegistry:
    cipher = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
    return DeviceRegistry(account, SystemClock(), cipher, PEPPER, DeviceLimits(**limits))


def device(user: str, token: str | None = None) -> DeviceIn:
    return DeviceIn(system_user_id=uuid.UUID(user), token=token or f"token-{uuid.uuid4().hex}")


def rows(account: AccountStorage, org: str) -> dict[str, Any]:
    table = account.table(TABLE)
    return {
        str(r["RowKey"]): r
        for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": org}, results_per_page=1000)
    }


def subject_entries(account: AccountStorage, org: str) -> int:
    table = account.table(index.TABLE)
    partition = index.org_devices_partition(org)
    return sum(1 for _ in table.query_entities("PartitionKey eq @pk", parameters={"pk": partition}))


def refused(action: Any) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        action()
    assert caught.value.status == 429 and caught.value.kind == "device-limit-reached"
    assert int(caught.value.headers["Retry-After"]) > 0
    return caught.value


def test_a_user_over_the_cap_is_refused_and_nothing_of_the_refused_device_is_written(
    account: AccountStorage,
) -> None:
    devices = registry(account, per_user=2)
    org, user = str(uuid.uuid4()), str(uuid.uuid4())
    first, fresh = devices.register(org, device(user, "first"))
    assert fresh
    devices.register(org, device(user))
    before, entries = rows(account, org), subject_entries(account, org)
    refused(lambda: devices.register(org, device(user, "third")))
    assert rows(account, org).keys() == before.keys()  # no index row, no device row
    assert rows(account, org)[user_counter_key(user)]["count"] == 2
    assert subject_entries(account, org) == entries  # its subject-index entry was taken back
    # The same token again is the same device: allowed at the cap, and it counts nothing.
    again, fresh = devices.register(org, device(user, "first"))
    assert again.id == first.id and not fresh
    assert rows(account, org)[user_counter_key(user)]["count"] == 2
    # Another user of the org has slots of their own.
    devices.register(org, device(str(uuid.uuid4())))


def test_an_org_over_its_cap_is_refused_whoever_registers(account: AccountStorage) -> None:
    devices = registry(account, per_user=5, per_org=3)
    org = str(uuid.uuid4())
    for _ in range(3):
        devices.register(org, device(str(uuid.uuid4())))
    refused(lambda: devices.register(org, device(str(uuid.uuid4()))))
    assert rows(account, org)[ORG_COUNTER]["count"] == 3
    active = [
        k for k, r in rows(account, org).items() if k.startswith(DEVICE_PREFIX) and r["status"] == "active"
    ]
    assert len(active) == 3


def test_racing_registrations_for_the_last_slot_let_exactly_one_through(account: AccountStorage) -> None:
    devices = registry(account, per_user=3)
    org, user = str(uuid.uuid4()), str(uuid.uuid4())
    devices.register(org, device(user))
    devices.register(org, device(user))
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def register() -> None:
        start.wait()
        try:
            registry(account, per_user=3).register(org, device(user))
            outcomes.append("registered")
        except ProblemError as error:
            outcomes.append(error.kind)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == {"registered": 1, "device-limit-reached": 5}
    stored = [r for k, r in rows(account, org).items() if k.startswith(DEVICE_PREFIX)]
    assert len(stored) == 3 and rows(account, org)[user_counter_key(user)]["count"] == 3
    assert len([k for k in rows(account, org) if k.startswith(INDEX_PREFIX)]) == 3


def test_removed_devices_free_their_slots_through_a_recount(account: AccountStorage) -> None:
    devices = registry(account, per_user=2, per_org=2)
    org, user = str(uuid.uuid4()), str(uuid.uuid4())
    gone, _ = devices.register(org, device(user))
    dead, _ = devices.register(org, device(user))
    devices.unsubscribe(org, gone.id)
    target = rows(account, org)[DEVICE_PREFIX + dead.id]["targetHash"]
    devices.delete(org, dead.id, str(target))  # Firebase said the token is dead
    # The counters still say 2 (removals do not lower them); at the cap they are recounted.
    assert rows(account, org)[user_counter_key(user)]["count"] == 2
    devices.register(org, device(user))
    devices.register(org, device(user))
    assert rows(account, org)[user_counter_key(user)]["count"] == 2
    refused(lambda: devices.register(org, device(user)))


def test_devices_stored_before_the_caps_are_counted_when_the_counter_is_first_made(
    account: AccountStorage,
) -> None:
    """An org's devices from before the caps (no counters): the first registration counts them."""
    org, user = str(uuid.uuid4()), str(uuid.uuid4())
    cipher = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
    table = account.table(TABLE)
    for number in range(3):
        entity = device_entity(
            org,
            f"01LEGACY{number:018d}",
            device(user),
            cipher=cipher,
            pepper=PEPPER,
            secret_hash=hash_key("s", PEPPER),
            now="2026-01-01T00:00:00Z",
        )
        table.create_entity(entity)
    devices = registry(account, per_user=4)
    devices.register(org, device(user))
    assert rows(account, org)[user_counter_key(user)]["count"] == 4
    assert rows(account, org)[ORG_COUNTER]["count"] == 4
    refused(lambda: devices.register(org, device(user)))


def test_a_token_moving_to_another_user_takes_that_users_slot_not_another_org_slot(
    account: AccountStorage,
) -> None:
    devices = registry(account, per_user=1, per_org=2)
    org, alice, bob = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    shared_browser, _ = devices.register(org, device(alice, "shared-browser"))
    moved, fresh = devices.register(org, device(bob, "shared-browser"))
    assert moved.id == shared_browser.id and fresh
    assert rows(account, org)[DEVICE_PREFIX + moved.id]["systemUserId"] == bob
    assert rows(account, org)[ORG_COUNTER]["count"] == 1
    # Alice's slot frees through the recount; Bob's one slot is taken.
    devices.register(org, device(alice))
    refused(lambda: devices.register(org, device(bob)))
