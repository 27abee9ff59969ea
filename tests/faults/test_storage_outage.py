"""Storage stopped for 10 s while a fan-out and a sync are in flight, then started with its data.

The module's Azurite keeps its data on disk, so stopping it is an outage, not a loss: when it is
back, the work resumes from what was stored (queue messages come back after their lease, claims
run out) and ends as it would have: each device sent at most once and every device with an
outcome, the tenant equal to the Graph tenant. While it lasts, `GET /api/health` says so (503,
the accounts unreachable); after, it answers 200 again.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from shared.notifications.records import NOTIFICATIONS
from shared.storage import tables
from shared.tenants.records import TENANTS
from tests.e2e.actors import add_proven_tenant, make_partner
from tests.e2e.dataverse import register_org
from tests.faults.report import record, scale
from tests.faults.rig import (
    FaultStack,
    notification_outcomes,
    seeded_random,
    sync_against_source,
    user_rows,
)
from tests.faults.seeding import seed_devices
from tests.stack import FCM

OUTAGE_SECONDS = 10.0
DEVICES = scale(1_500, 10_000)
USERS = scale(3_000, 20_000)
PATIENCE = scale(120, 900)


def test_storage_stopped_mid_work_is_reported_by_health_and_the_work_resumes_with_nothing_lost(
    fault_stack: FaultStack, control: StandinControl
) -> None:
    seed, rng = seeded_random()
    partner = make_partner(fault_stack.api, "eu")
    account = fault_stack.router.region("eu")
    org = register_org(partner)
    tokens = seed_devices(account, fault_stack.env, org["id"], DEVICES)
    tenant_id = add_proven_tenant(partner, control, USERS)  # its sync is queued at once

    def sync_running() -> bool:
        row = tables.get(account.table(TENANTS), partner.id, tenant_id)
        return row is not None and bool(row.get("activeSyncId"))

    # The fan-out starts once the sync is writing users, so that both are in flight at the outage.
    wait_until(
        lambda: sum(1 for _ in user_rows(account, partner.id, tenant_id)) > 0,
        timeout=PATIENCE,
        what="the sync's first users",
    )
    sent = httpx.post(
        f"{partner.url}/orgs/{org['id']}/notifications",
        headers=partner.as_key,
        json={"everyone": True, "title": "Case assigned", "body": "CAS-01234 needs you"},
        timeout=60,
    )
    assert sent.status_code == 202, sent.text
    notification_id = sent.json()["id"]
    notifications = account.table(NOTIFICATIONS)

    def fanned_out() -> int:
        with FCM.state.lock:
            return sum(1 for token in tokens.values() if FCM.state.deliveries.get(("token", token)))

    def completed() -> bool:
        row = tables.get(notifications, org["id"], notification_id)
        return row is not None and row.get("state") == "completed"

    point = rng.uniform(0.05, 0.3) * DEVICES
    wait_until(lambda: fanned_out() >= point or completed(), timeout=PATIENCE, what="the fan-out under way")
    in_flight = {"fan-out": not completed(), "sync": sync_running()}

    stopped = time.monotonic()
    fault_stack.stop_storage()
    during = wait_until(unhealthy(fault_stack), timeout=OUTAGE_SECONDS, what="health to report the outage")
    # The outage itself: storage stays away for its 10 s whatever the host does meanwhile.
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    fault_stack.start_storage()
    wait_until(lambda: fault_stack.health().status_code == 200, timeout=60, what="health to recover")

    def sync_finished() -> bool:
        row = tables.get(account.table(TENANTS), partner.id, tenant_id)
        return row is not None and not row.get("activeSyncId") and bool(row.get("lastSyncState"))

    wait_until(completed, timeout=PATIENCE, what=f"the notification to complete (seed {seed})")
    wait_until(sync_finished, timeout=PATIENCE, what=f"the sync to finish (seed {seed})")

    outcomes = notification_outcomes(partner, org["id"], notification_id)
    with FCM.state.lock:
        received = {device: len(FCM.state.deliveries.get(("token", t), [])) for device, t in tokens.items()}
    twice = [device for device, count in received.items() if count > 1]
    missing = [device for device in tokens if device not in outcomes]
    reported_unsent = [
        d for d, o in outcomes.items() if o["state"] in ("sent", "delivered") and received.get(d) != 1
    ]
    failed = Counter(str(o.get("errorCode")) for o in outcomes.values() if o["state"] == "failed")
    fan_out_right = not (twice or missing or reported_unsent) and set(failed) <= {"OUTCOME_UNKNOWN"}
    tenant, synced, source = sync_against_source(partner, tenant_id)
    sync_right = tenant["lastSync"]["state"] == "succeeded" and synced == source
    outage_reported = during["health"]["control"]["reachable"] is False
    survived = all(in_flight.values()) and fan_out_right and sync_right and outage_reported
    record("storage-stopped-during-fanout-and-sync", injected=1, survived=survived)

    context = f"seed {seed}, in flight at the outage: {in_flight}, failures {dict(failed)}"
    assert all(in_flight.values()), f"work had ended before storage stopped ({context})"
    assert during["status"] == 503 and during["health"]["control"]["reachable"] is False, during
    assert all(not region["reachable"] for region in during["health"]["regions"].values()), during
    assert not twice, f"{len(twice)} devices got the notification twice ({context})"
    assert not missing, f"{len(missing)} devices have no outcome ({context})"
    assert not reported_unsent, f"{len(reported_unsent)} devices reported sent that FCM never got ({context})"
    # Only the chunks claimed when storage went may be left unsent, and then they say so.
    assert set(failed) <= {"OUTCOME_UNKNOWN"}, context
    assert tenant["lastSync"]["state"] == "succeeded", f"{tenant['lastSync']} ({context})"
    assert synced == source, f"{len(synced.keys() ^ source.keys())} users differ in presence ({context})"
    assert fault_stack.health().json()["status"] == "ok"


def unhealthy(stack: FaultStack) -> Any:
    """A check for wait_until: the health answer's problem body once it reports storage down."""

    def check() -> dict[str, Any] | None:
        answer = stack.health()
        return dict(answer.json()) if answer.status_code == 503 else None

    return check
