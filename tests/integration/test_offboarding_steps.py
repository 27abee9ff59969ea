"""Offboarding against Azurite and the Graph stand-in: every step, a worker killed mid-way, throttling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from localdev.stack import wait_until
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import EventFilter
from shared.partners.service import Partner
from shared.storage import tables
from shared.tenants.lifecycle_models import (
    LIFECYCLE,
    AutoReplyIn,
    OffboardingIn,
    OffboardingMessage,
    StepName,
)
from shared.tenants.models import TenantIn
from shared.tenants.offboarding import STEPS, OffboardingService
from shared.tenants.service import TenantService
from tests.clocks import MovableClock
from tests.integration.rigs import connected_partner, service_for, stored_users
from tests.stack import STACK_ENV

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

REPO = Path(__file__).resolve().parents[2]
ACTION = ActionContext(Actor("personnel", "tester", "Tess Tester"), "req-offboarding")
GRAPH_STEPS: tuple[StepName, ...] = ("blockSignIn", "revokeSessions", "automaticReply", "oneDriveHandover")

# A worker as the queue trigger runs it, in a process of its own the test can kill.
CRASH_WORKER = """
import sys
from functions import deps
from shared.tenants.offboarding import OffboardingService

partner = deps.partners().get(sys.argv[1])
service = OffboardingService(deps.tenants(partner).directory, deps.clock(), dispatch=lambda m, d: None)
service.run(sys.argv[2], sys.argv[3])
"""


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Offboarding IT", tenant_limit=10)


@pytest.fixture(scope="module")
def service(partner: Partner) -> TenantService:
    return service_for(partner)


def synced_tenant(service: TenantService, control: StandinControl) -> str:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 40)
    grant_gdap(control, service.partner.entra_tenant_id, tenant_id)
    service.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Leavers Ltd"), ACTION)
    sync_id = service.request_sync(tenant_id, "manual", ACTION).id
    assert service.run_sync(tenant_id, sync_id, final_attempt=False).state == "succeeded"
    return tenant_id


def leaver_and_colleague(service: TenantService, control: StandinControl, tenant_id: str) -> tuple[str, str]:
    """A user with a mailbox, groups and a directory role (someone offboarding has work with), and another."""
    users = sorted(stored_users(service, tenant_id))
    for user_id in users:
        state = control.user_state(tenant_id, user_id)
        if state["hasMailbox"] and state["groups"] and state["roleAssignments"]:
            return user_id, next(u for u in users if u != user_id)
    raise AssertionError("the generated tenant has no licensed role holder in a group")


def offboarding(
    service: TenantService, clock: Any, sent: list[tuple[OffboardingMessage, int | None]]
) -> OffboardingService:
    return OffboardingService(service.directory, clock, dispatch=lambda m, d: sent.append((m, d)))


def request(colleague: str) -> OffboardingIn:
    return OffboardingIn(
        auto_reply=AutoReplyIn(internal_message="I have left; write to the service desk."),
        one_drive_to=colleague,
    )


def events_about(service: TenantService, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
    # The target id is personal, so sealed in the table: found through the tenant, then opened.
    events, _ = service.audit.list(service.partner.id, EventFilter(tenant=tenant_id), 1000, None)
    return [e for e in events if e["target"].get("id") == user_id]


def step_events(service: TenantService, tenant_id: str, user_id: str) -> list[str]:
    return [
        e["details"]["step"]
        for e in events_about(service, tenant_id, user_id)
        if e["action"] == "tenant.user.offboardingStep"
    ]


def writes(control: StandinControl, tenant_id: str) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in control.requests(tenant_id) if r["method"] != "GET"]


def test_offboarding_completes_every_step_and_a_second_run_changes_nothing(
    service: TenantService, control: StandinControl
) -> None:
    tenant_id = synced_tenant(service, control)
    leaver, colleague = leaver_and_colleague(service, control, tenant_id)
    before = control.user_state(tenant_id, leaver)
    held = sorted(lic["skuId"] for lic in before["user"]["assignedLicenses"])
    sent: list[tuple[OffboardingMessage, int | None]] = []
    work = offboarding(service, service.clock, sent)

    started = work.start(tenant_id, leaver, request(colleague), ACTION)
    assert started.state == "queued" and [s.state for s in started.steps] == ["pending"] * len(STEPS)
    assert [m.operation_id for m, _ in sent] == [started.id]
    # Asked again while queued: the same operation, not a second one.
    assert work.start(tenant_id, leaver, request(colleague), ACTION).id == started.id

    done = work.run(tenant_id, started.id)
    assert done is not None and done.state == "succeeded", done
    lines = {s.name: s for s in done.steps}
    assert [s.name for s in done.steps] == list(STEPS)
    assert all(
        lines[name].state == "done"
        for name in (*GRAPH_STEPS, "removeGroups", "removeRoles", "removeLicences")
    )
    assert lines["hideFromAddressList"].state == "manual"
    assert "HiddenFromAddressListsEnabled" in (lines["hideFromAddressList"].instructions or "")
    assert lines["convertMailbox"].state == "manual" and lines["convertMailbox"].instructions
    assert sorted(f.sku_id for f in lines["removeLicences"].freed_licences or []) == held
    assert all(f.sku_part_number for f in lines["removeLicences"].freed_licences or [])

    after = control.user_state(tenant_id, leaver)
    assert after["user"]["accountEnabled"] is False
    assert after["user"]["signInSessionsValidFromDateTime"]
    assert (
        after["groups"] == [] and after["roleAssignments"] == [] and after["user"]["assignedLicenses"] == []
    )
    replies = after["mailboxSettings"]["automaticRepliesSetting"]
    assert replies["status"] == "alwaysEnabled"
    assert (
        replies["internalReplyMessage"]
        == replies["externalReplyMessage"]
        == "I have left; write to the service desk."
    )
    assert [(p["grantedToV2"]["user"]["id"], p["roles"]) for p in after["drivePermissions"]] == [
        (colleague, ["write"])
    ]
    # The synced copy follows at once: disabled, no licences, in none of the groups.
    copy = service.get_user(tenant_id, leaver)
    assert copy.account_enabled is False and copy.assigned_licenses == []
    assert all(leaver not in (service.get_group(tenant_id, g).members or []) for g in before["groups"])
    # Audited per step, once each, and the whole.
    assert sorted(step_events(service, tenant_id, leaver)) == sorted(STEPS)
    actions = [e["action"] for e in events_about(service, tenant_id, leaver)]
    assert "tenant.user.offboardingStarted" in actions and "tenant.user.offboarded" in actions

    # Run again (a redelivered message): nothing is written to the tenant twice.
    control.clear_requests()
    assert work.run(tenant_id, started.id) == work.get(tenant_id, started.id)
    assert writes(control, tenant_id) == []
    # A new offboarding of the same user finds nothing left to remove, and says so.
    again = work.start(tenant_id, leaver, OffboardingIn(), ACTION)
    assert again.id != started.id
    rerun = work.run(tenant_id, again.id)
    assert rerun is not None and rerun.state == "succeeded"
    assert {s.name: s.state for s in rerun.steps}["automaticReply"] == "skipped"
    assert {s.name: s for s in rerun.steps}["removeLicences"].freed_licences == []


def test_a_worker_killed_mid_way_is_resumed_and_no_finished_step_runs_again(
    service: TenantService, control: StandinControl
) -> None:
    tenant_id = synced_tenant(service, control)
    leaver, colleague = leaver_and_colleague(service, control, tenant_id)
    before = control.user_state(tenant_id, leaver)
    sent: list[tuple[OffboardingMessage, int | None]] = []
    clock = MovableClock(datetime.now(UTC))
    work = offboarding(service, clock, sent)
    started = work.start(tenant_id, leaver, request(colleague), ACTION)
    control.clear_requests()
    # Listing the groups hangs (longer than the test waits to kill), so the worker dies there.
    control.inject("slow", path=f"users/{leaver}/memberOf", tenant=tenant_id, delaySeconds=30)
    worker = subprocess.Popen(
        [sys.executable, "-c", CRASH_WORKER, service.partner.id, tenant_id, started.id],
        cwd=REPO,
        env={**os.environ, **STACK_ENV, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def at_groups() -> bool:
            if worker.poll() is not None:
                raise AssertionError(
                    f"the worker ended early: {worker.stderr.read() if worker.stderr else ''!r}"
                )
            # The step before the groups is stored: the worker is now in the hanging group listing.
            lines = {step.name: step.state for step in work.get(tenant_id, started.id).steps}
            return lines["convertMailbox"] == "manual"

        wait_until(at_groups, timeout=180, what="the worker to reach the group step")
    finally:
        worker.send_signal(signal.SIGKILL)  # no cleanup: the lease stays, as a lost instance leaves it
        worker.wait()
        control.clear_faults()

    halfway = work.get(tenant_id, started.id)
    states = {s.name: s.state for s in halfway.steps}
    assert halfway.state == "running"
    assert all(states[name] == "done" for name in GRAPH_STEPS)
    assert states["removeGroups"] == states["removeRoles"] == states["removeLicences"] == "pending"
    assert control.user_state(tenant_id, leaver)["groups"] == before["groups"]  # not reached yet

    # Redelivered within the dead worker's lease: nothing is done, the work is looked at again later.
    assert work.run(tenant_id, started.id) is None
    delay = sent[-1][1]
    assert delay is not None and 0 < delay <= 360  # until the dead worker's five-minute lease ends
    # After the lease: the remaining steps, and only those.
    clock.moment += timedelta(minutes=6)
    done = work.run(tenant_id, started.id)
    assert done is not None and done.state == "succeeded", done
    assert done.attempts == 2
    after = control.user_state(tenant_id, leaver)
    assert (
        after["groups"] == [] and after["roleAssignments"] == [] and after["user"]["assignedLicenses"] == []
    )
    assert after["user"]["accountEnabled"] is False
    made = writes(control, tenant_id)
    assert made.count(("PATCH", f"users/{leaver}")) == 1
    assert made.count(("POST", f"users/{leaver}/revokeSignInSessions")) == 1
    assert made.count(("PATCH", f"users/{leaver}/mailboxSettings")) == 1
    assert sum(1 for _, path in made if path.endswith("/invite")) == 1
    assert sorted(step_events(service, tenant_id, leaver)) == sorted(STEPS)  # each step audited once


def test_throttling_puts_the_operation_off_by_the_tenants_retry_after(
    service: TenantService, control: StandinControl
) -> None:
    tenant_id = synced_tenant(service, control)
    leaver, _ = leaver_and_colleague(service, control, tenant_id)
    sent: list[tuple[OffboardingMessage, int | None]] = []
    work = offboarding(service, service.clock, sent)
    started = work.start(tenant_id, leaver, OffboardingIn(), ACTION)
    # More 429s than the SDK's own retries: the operation waits for the tenant instead.
    control.inject("throttle", path="revokeSignInSessions", tenant=tenant_id, count=10, retryAfter=1)
    try:
        assert work.run(tenant_id, started.id) is None
    finally:
        control.clear_faults()
    assert sent[-1] == (
        OffboardingMessage(partner_id=service.partner.id, tenant_id=tenant_id, operation_id=started.id),
        1,
    )
    states = {s.name: s.state for s in work.get(tenant_id, started.id).steps}
    assert states["blockSignIn"] == "done" and states["revokeSessions"] == "pending"
    row = tables.get(
        service.account.table(LIFECYCLE), f"{service.partner.id}~{tenant_id}", f"op~{started.id}"
    )
    assert row is not None and not row["leaseUntil"]  # released: the next message need not wait
    done = work.run(tenant_id, started.id)
    assert done is not None and done.state == "succeeded"
