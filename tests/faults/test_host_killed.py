"""The host killed (SIGKILL, every process of it) at random points of a fan-out, a sync and a sweep.

Each test starts the work through the API, kills the host when the work has gone a random part of
the way (seeded: the seed is in every assertion message, FAULTS_SEED replays it), starts it again
at once, and checks the end state against the stand-ins' own records: FCM's deliveries per token,
the Graph tenant's users, the rows the sweep was due to remove. Sizes are small in `make test`
and the issue's in `bench/faults.py` (FAULTS_SCALE=full).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from shared.clock import isoformat
from shared.idempotency import TABLE as IDEMPOTENCY
from shared.notifications.records import NOTIFICATIONS
from shared.privacy.retention import STATE_TABLE
from shared.storage import tables
from shared.tenants.records import TENANTS
from tests.e2e.actors import OPERATOR, PartnerSetup, add_proven_tenant, make_partner
from tests.e2e.dataverse import register_org
from tests.faults.report import record, scale
from tests.faults.rig import (
    FaultStack,
    kill_during,
    notification_outcomes,
    seeded_random,
    sync_against_source,
    user_rows,
)
from tests.faults.seeding import seed_devices
from tests.stack import FCM

# Each invocation of a sweep works this long, so a kill lands inside one of many invocations.
FAULT_SETTINGS = {"PRIVACY_SWEEP_BUDGET_SECONDS": "2"}
KILLS = 3
DEVICES = scale(1_500, 10_000)
USERS = scale(3_000, 20_000)
EXPIRED_RECORDS = scale(1_000, 10_000)
LIVE_RECORDS = scale(200, 2_000)
PATIENCE = scale(120, 900)  # seconds for any one stage of the work


@pytest.fixture(scope="module")
def partner(fault_stack: FaultStack) -> PartnerSetup:
    return make_partner(fault_stack.api, "eu")


def test_a_fan_out_survives_kills_and_sends_each_device_at_most_once(
    fault_stack: FaultStack, partner: PartnerSetup
) -> None:
    seed, rng = seeded_random()
    org = register_org(partner)
    tokens = seed_devices(fault_stack.router.region("eu"), fault_stack.env, org["id"], DEVICES)
    sent = web_post(
        f"{partner.url}/orgs/{org['id']}/notifications",
        partner.as_key,
        {"everyone": True, "title": "Case assigned", "body": "CAS-01234 needs you"},
    )
    notification_id = sent["id"]
    notifications = fault_stack.router.region("eu").table(NOTIFICATIONS)

    def progress() -> int:
        with FCM.state.lock:
            return sum(1 for token in tokens.values() if FCM.state.deliveries.get(("token", token)))

    def completed() -> bool:
        row = tables.get(notifications, org["id"], notification_id)
        return row is not None and row.get("state") == "completed"

    cut = kill_during(
        fault_stack, rng, kills=KILLS, progress=progress, total=DEVICES, finished=completed, timeout=PATIENCE
    )
    wait_until(completed, timeout=PATIENCE, what=f"the notification to complete (seed {seed})")

    outcomes = notification_outcomes(partner, org["id"], notification_id)
    with FCM.state.lock:
        received = {device: len(FCM.state.deliveries.get(("token", t), [])) for device, t in tokens.items()}
    twice = [device for device, count in received.items() if count > 1]
    missing = [device for device in tokens if device not in outcomes]
    sent_ok = [d for d, o in outcomes.items() if o["state"] in ("sent", "delivered")]
    unsent_but_ok = [d for d in sent_ok if received.get(d) != 1]
    failed_silently = [
        d
        for d, o in outcomes.items()
        if o["state"] == "failed" and not (o.get("errorCode") or o.get("errorMessage"))
    ]
    failed = Counter(str(o.get("errorCode")) for o in outcomes.values() if o["state"] == "failed")
    survived = cut > 0 and not (twice or missing or unsent_but_ok or failed_silently)
    survived = survived and set(failed) <= {"OUTCOME_UNKNOWN"}
    record("host-killed-during-fanout", injected=KILLS, survived=survived)
    context = (
        f"seed {seed}, {cut} of {KILLS} kills cut the fan-out off, failures {dict(failed)}, "
        f"FCM deliveries per device {dict(Counter(received.values()))}, "
        f"{sum(1 for d, o in outcomes.items() if o['state'] == 'failed' and not received.get(d))} "
        "marked unknown were never sent"
    )
    assert cut > 0, f"every kill came after the fan-out ended ({context})"
    assert not twice, f"{len(twice)} devices got the notification twice ({context})"
    assert not missing, f"{len(missing)} devices have no outcome ({context})"
    assert not unsent_but_ok, f"{len(unsent_but_ok)} devices reported sent that FCM never got ({context})"
    assert not failed_silently, f"{len(failed_silently)} devices failed without a reason ({context})"
    # A device is left unsent only when a kill cut off the chunk that had claimed it (then it
    # says so): no other failure.
    assert set(failed) <= {"OUTCOME_UNKNOWN"}, context


def test_a_sync_survives_kills_and_ends_equal_to_the_tenant(
    fault_stack: FaultStack, partner: PartnerSetup, control: StandinControl
) -> None:
    seed, rng = seeded_random()
    account = fault_stack.router.region("eu")
    tenant_id = add_proven_tenant(partner, control, USERS)  # its first sync is queued at once

    def progress() -> int:
        return sum(1 for _ in user_rows(account, partner.id, tenant_id))

    def finished() -> bool:
        row = tables.get(account.table(TENANTS), partner.id, tenant_id)
        return row is not None and not row.get("activeSyncId") and bool(row.get("lastSyncState"))

    cut = kill_during(
        fault_stack, rng, kills=KILLS, progress=progress, total=USERS, finished=finished, timeout=PATIENCE
    )
    wait_until(finished, timeout=PATIENCE, what=f"the sync to finish (seed {seed})")

    tenant, synced, source = sync_against_source(partner, tenant_id)
    survived = cut > 0 and tenant["lastSync"]["state"] == "succeeded" and synced == source
    record("host-killed-during-sync", injected=KILLS, survived=survived)
    context = f"seed {seed}, {cut} of {KILLS} kills cut the sync off"
    assert cut > 0, f"every kill came after the sync ended ({context})"
    assert tenant["lastSync"]["state"] == "succeeded", f"{tenant['lastSync']} ({context})"
    assert synced.keys() - source.keys() == set(), f"users the tenant does not have ({context})"
    assert source.keys() - synced.keys() == set(), f"users the sync missed ({context})"
    changed = [key for key in source if synced[key] != source[key]]
    assert not changed, f"{len(changed)} users differ from the tenant's ({context})"
    assert tenant["counts"]["users"] == len(source), context


def test_a_sweep_survives_kills_and_removes_exactly_what_is_due(
    fault_stack: FaultStack, partner: PartnerSetup
) -> None:
    seed, rng = seeded_random()
    account = fault_stack.router.region("eu")
    table = account.table(IDEMPOTENCY)
    now = datetime.now(UTC)
    owner = f"faults{uuid.uuid4().hex[:10]}"
    expired = seed_records(table, owner, "gone", EXPIRED_RECORDS, now - timedelta(hours=1))
    live = seed_records(table, owner, "kept", LIVE_RECORDS, now + timedelta(hours=23))
    before = every_row(fault_stack)

    def remaining_expired() -> int:
        keys = {r["RowKey"] for r in table.query_entities(f"PartitionKey eq '{owner}'", select=["RowKey"])}
        return len(keys & expired)

    sweeping = SweepDriver(fault_stack)
    sweeping.start()
    try:
        cut = kill_during(
            fault_stack,
            rng,
            kills=KILLS,
            progress=lambda: EXPIRED_RECORDS - remaining_expired(),
            total=EXPIRED_RECORDS,
            finished=lambda: remaining_expired() == 0,
            timeout=PATIENCE,
        )
        wait_until(sweeping.complete.is_set, timeout=PATIENCE, what=f"a complete sweep (seed {seed})")
    finally:
        sweeping.stop()

    after = every_row(fault_stack)
    left = {r["RowKey"] for r in table.query_entities(f"PartitionKey eq '{owner}'", select=["RowKey"])}
    expected_gone = {(account.label, IDEMPOTENCY, owner, key) for key in expired}
    removed = before - after
    survived = cut > 0 and left == live and removed == expected_gone
    record("host-killed-during-sweep", injected=KILLS, survived=survived)
    context = f"seed {seed}, {cut} of {KILLS} kills cut the sweep off"
    assert cut > 0, f"every kill came after the sweep ended ({context})"
    assert left & expired == set(), f"{len(left & expired)} expired records survived ({context})"
    assert live <= left, f"{len(live - left)} live records were removed ({context})"
    assert removed - expected_gone == set(), (
        f"removed beyond what was due: {sorted(removed - expected_gone)[:5]}"
    )


# --- helpers ---------------------------------------------------------------------------------------


def web_post(url: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url, headers=headers, json=body, timeout=60)
    assert response.status_code in (200, 201, 202), response.text
    return dict(response.json())


def seed_records(table: Any, owner: str, prefix: str, count: int, expires: datetime) -> set[str]:
    """Idempotency records of a partner, expiring at `expires` (the sweep's `idempotency.expired`)."""
    keys = [f"{prefix}{index:06d}" for index in range(count)]
    for start in range(0, count, 100):
        table.submit_transaction(
            [
                ("upsert", {"PartitionKey": owner, "RowKey": key, "expiresAt": isoformat(expires)})
                for key in keys[start : start + 100]
            ]
        )
    return set(keys)


def every_row(stack: FaultStack) -> set[tuple[str, str, str, str]]:
    """(account, table, partition, row) of every row in the stack's storage but the sweep's own state."""
    found = set()
    for account in stack.router.accounts():
        service = account.table_service()
        for name in (t.name for t in service.list_tables()):
            if name == STATE_TABLE:
                continue
            client = service.get_table_client(name)
            for row in client.list_entities(select=["PartitionKey", "RowKey"]):
                found.add((account.label, name, str(row["PartitionKey"]), str(row["RowKey"])))
    return found


class SweepDriver:
    """Asks the operator endpoint for sweeps until one answers complete, across the host's kills,
    as an operator's script (or the timer) would: a call cut off or refused (409) is asked again."""

    def __init__(self, stack: FaultStack):
        self.stack = stack
        self.complete = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        with httpx.Client(timeout=120) as http:
            while not self._stop.is_set() and not self.complete.is_set():
                try:
                    answer = http.post(
                        f"{self.stack.api}/api/privacy/sweeps", params={"region": "eu"}, headers=OPERATOR
                    )
                except httpx.TransportError:
                    self._stop.wait(0.2)  # the host is down: ask again once it serves
                    continue
                if answer.status_code == 200 and all(item["complete"] for item in answer.json()["items"]):
                    self.complete.set()
                elif answer.status_code == 409:
                    self._stop.wait(0.2)  # a killed invocation's lease: it runs out
