"""Standard assignments and runs as long operations against Azurite and the Graph stand-in: a daily
assignment starts once per day however many timers fire, an `afterSync` one once per sync, a worker
killed mid-run is resumed without checking a finished tenant again, a scoped caller assigns only to
its tenants, and runs and assignments end by their retention rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from localdev.stack import wait_until
from shared.access.principals import Actor
from shared.access.reach import TenantReach
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.errors import ProblemError
from shared.ids import new_id
from shared.partners.service import Partner
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.standards.assignments import ASSIGNMENTS, StandardAssignments
from shared.standards.models import AssignmentIn, RunMessage
from shared.standards.retention import RUN_LIFETIME, StandardRunHistory
from shared.standards.runs import RUNS, StandardRuns
from shared.standards.service import StandardService
from shared.storage.router import StorageRouter
from shared.tenants.models import TenantIn
from shared.tenants.records import TenantStore
from shared.tenants.service import TenantService
from tests.clocks import MovableClock
from tests.integration.rigs import connected_partner, service_for, terminated_partner
from tests.stack import STACK_ENV

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

REPO = Path(__file__).resolve().parents[2]
ACTION = ActionContext(Actor("personnel", "tester", "Tess Tester"), "req-standard-runs")
APPS = "tenantry-apps-and-guests"
EVERYONE = TenantReach()
POLICY = "policies/authorizationPolicy"

# A worker as the queue trigger runs it, in a process of its own the test can kill.
CRASH_WORKER = """
import sys
from functions import deps
from shared.standards.runs import StandardRuns

partner = deps.partners().get(sys.argv[1])
StandardRuns(deps.standards(partner), dispatch=lambda m, d: None).run(sys.argv[2])
"""


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Standards IT", tenant_limit=20)


@pytest.fixture(scope="module")
def tenants(partner: Partner) -> TenantService:
    return service_for(partner)


def proven_tenant(tenants: TenantService, control: StandinControl) -> str:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 3)
    grant_gdap(control, tenants.partner.entra_tenant_id, tenant_id)
    tenants.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Standards Ltd"), ACTION)
    assert tenants.rows.get(tenant_id)["accessState"] == "proven"
    return tenant_id


class Rig:
    """The partner's standards on a clock the test moves, with the queue messages kept."""

    def __init__(self, tenants: TenantService, clock: MovableClock):
        self.sent: list[tuple[RunMessage, int | None]] = []
        self.standards = StandardService(
            tenants.account, tenants.partner, clock, tenants.audit, deps.graph_access(), rows=tenants.rows
        )
        self.runs = StandardRuns(self.standards, dispatch=lambda m, d: self.sent.append((m, d)))
        access = deps.standard_assignments(tenants.partner)  # the app's group reader
        self.assignments = StandardAssignments(self.runs, access.group_members)


def assignment(tenant_ids: list[str], **fields: Any) -> AssignmentIn:
    body = {"standardId": APPS, "tenantIds": tenant_ids, "mode": "report", "schedule": "daily", **fields}
    return AssignmentIn.model_validate(body)


def policy_reads(control: StandinControl, tenant_id: str) -> int:
    return sum(1 for r in control.requests(tenant_id) if r["method"] == "GET" and r["path"] == POLICY)


def test_a_daily_assignment_runs_once_a_day_however_many_timers_fire(
    tenants: TenantService, control: StandinControl
) -> None:
    pair = sorted(proven_tenant(tenants, control) for _ in range(2))
    clock = MovableClock(datetime(2026, 3, 2, 5, 30, tzinfo=UTC))
    rig = Rig(tenants, clock)
    saved = rig.assignments.create_assignment(assignment(pair, hourUtc=6), ACTION, EVERYONE)

    def mine() -> list[Any]:
        """This assignment's row alone: the partner's others belong to the other tests."""
        return list(rig.assignments._table.query_entities(f"RowKey eq '{saved.id}'"))

    assert rig.assignments.start_due(clock.now(), mine()) == 0  # before its hour
    clock.moment = datetime(2026, 3, 2, 6, 0, 5, tzinfo=UTC)
    # Two instances' timers at once, and a third after a restart: one run for the day.
    with ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda _: rig.assignments.start_due(clock.now(), mine()), range(2)))
    assert sum(started) == 1
    clock.moment += timedelta(hours=3)
    assert rig.assignments.start_due(clock.now(), mine()) == 0
    [run_id] = {m.run_id for m, _ in rig.sent}
    assert rig.assignments.get_assignment(saved.id, EVERYONE).last_run_id == run_id

    done = rig.runs.run(run_id)
    assert done is not None and done.state == "succeeded", done
    assert [(t.tenant_id, t.state, t.failed) for t in done.tenants] == [(t, "checked", 2) for t in pair]
    assert done.trigger == "schedule" and done.assignment_id == saved.id and done.completed == 2
    assert rig.runs.run(run_id) == done  # a late duplicate message changes nothing

    clock.moment = datetime(2026, 3, 3, 7, tzinfo=UTC)  # the next day: the next run
    assert rig.assignments.start_due(clock.now(), mine()) == 1
    assert len({m.run_id for m, _ in rig.sent}) == 2


def test_an_after_sync_assignment_runs_once_per_sync_for_that_tenant(
    tenants: TenantService, control: StandinControl
) -> None:
    named, other = proven_tenant(tenants, control), proven_tenant(tenants, control)
    rig = Rig(tenants, MovableClock(datetime.now(UTC)))
    rig.assignments.create_assignment(assignment([named], schedule="afterSync"), ACTION, EVERYONE)
    first, second = new_id(), new_id()  # sync ids
    assert rig.assignments.after_sync(other, first) == 0
    assert rig.assignments.after_sync(named, first) == 1
    assert rig.assignments.after_sync(named, first) == 0  # the same sync, redelivered
    assert rig.assignments.after_sync(named, second) == 1
    runs = [rig.runs.get(m.run_id, lambda t: True) for m, _ in rig.sent]
    assert {tuple(line.tenant_id for line in r.tenants) for r in runs} == {(named,)}
    assert {r.trigger for r in runs} == {"afterSync"}


def test_a_worker_killed_mid_run_is_resumed_and_no_finished_tenant_is_checked_again(
    tenants: TenantService, control: StandinControl
) -> None:
    targets = sorted(proven_tenant(tenants, control) for _ in range(3))
    clock = MovableClock(datetime.now(UTC))
    rig = Rig(tenants, clock)
    saved = rig.assignments.create_assignment(assignment(targets), ACTION, EVERYONE)
    started = rig.assignments.run_now(saved.id, ACTION, EVERYONE)
    assert started.state == "queued" and [t.state for t in started.tenants] == ["pending"] * 3
    control.clear_requests()
    # The second tenant's policy read hangs (longer than the test waits to kill): the worker dies there.
    control.inject("slow", path=POLICY, tenant=targets[1], delaySeconds=30)
    worker = subprocess.Popen(
        [sys.executable, "-c", CRASH_WORKER, tenants.partner.id, started.id],
        cwd=REPO,
        env={**os.environ, **STACK_ENV, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def first_done() -> bool:
            if worker.poll() is not None:
                raise AssertionError(
                    f"the worker ended early: {worker.stderr.read() if worker.stderr else ''!r}"
                )
            return rig.runs.get(started.id, lambda t: True).tenants[0].state == "checked"

        wait_until(first_done, timeout=180, what="the worker to finish the first tenant")
    finally:
        worker.send_signal(signal.SIGKILL)  # no cleanup: the lease stays, as a lost instance leaves it
        worker.wait()
        control.clear_faults()

    halfway = rig.runs.get(started.id, lambda t: True)
    assert halfway.state == "running" and halfway.completed == 1
    assert [t.state for t in halfway.tenants] == ["checked", "pending", "pending"]
    # Redelivered within the dead worker's lease: nothing is done, it is looked at again later.
    assert rig.runs.run(started.id) is None
    delay = rig.sent[-1][1]
    assert delay is not None and 0 < delay <= 360
    clock.moment += timedelta(minutes=6)
    done = rig.runs.run(started.id)
    assert done is not None and done.state == "succeeded" and done.attempts == 2, done
    assert [t.state for t in done.tenants] == ["checked"] * 3
    assert policy_reads(control, targets[0]) == 1  # checked once, before the crash
    assert policy_reads(control, targets[2]) == 1


def test_a_scoped_caller_assigns_and_sees_only_its_tenants(
    tenants: TenantService, control: StandinControl
) -> None:
    own, foreign = proven_tenant(tenants, control), proven_tenant(tenants, control)
    rig = Rig(tenants, MovableClock(datetime.now(UTC)))
    scoped = TenantReach(frozenset({own}), {})
    with pytest.raises(ProblemError) as refused:
        rig.assignments.create_assignment(assignment([own, foreign]), ACTION, scoped)
    assert refused.value.status == 404
    theirs = rig.assignments.create_assignment(assignment([foreign]), ACTION, EVERYONE)
    mine = rig.assignments.create_assignment(assignment([own]), ACTION, scoped)
    listed = {a.id for a in rig.assignments.list_assignments(scoped).items}
    assert mine.id in listed and theirs.id not in listed
    with pytest.raises(ProblemError) as hidden:
        rig.assignments.get_assignment(theirs.id, scoped)
    assert hidden.value.status == 404
    # A run of an assignment over both, read by the scoped caller, shows only its tenant's line.
    both = rig.assignments.create_assignment(assignment([own, foreign]), ACTION, EVERYONE)
    run = rig.assignments.run_now(both.id, ACTION, EVERYONE)
    assert [t.tenant_id for t in rig.runs.get(run.id, scoped.allows).tenants] == [own]


def test_runs_go_ninety_days_after_they_were_made_and_assignments_with_the_partner(
    private_router: StorageRouter,
) -> None:
    account = private_router.region("eu")
    clock = MovableClock(datetime(1971, 2, 1, tzinfo=UTC))
    partner = terminated_partner(private_router, clock)
    standards = StandardService(
        account, partner, clock, AuditLog(account, clock), None, rows=TenantStore(account, partner.id)
    )
    runs = StandardRuns(standards, dispatch=lambda m, d: None)
    tenant = str(uuid.uuid4())
    made, _ = runs.start(
        standards.get_standard(APPS), [tenant], mode="report", dry_run=False, context=ACTION, trigger="manual"
    )
    assert runs.run(made.id) is not None  # the tenant is unknown here: skipped, with its progress row
    account.table(ASSIGNMENTS).create_entity(
        {"PartitionKey": partner.id, "RowKey": "A1", "schedule": "daily"}
    )

    def rows(table: str) -> list[str]:
        found = account.table(table).query_entities("PartitionKey eq @pk", parameters={"pk": partner.id})
        return [str(r["RowKey"]) for r in found]

    assert rows(RUNS) == [made.id, f"{made.id}~{tenant}"]
    run_rule = next(r for r in deps.retention_registry().rules() if r.name == StandardRunHistory.name)
    assignment_rule = next(r for r in deps.retention_registry().rules() if r.name == "standards.assignments")

    def sweep(at: datetime) -> dict[str, int]:
        registry = RetentionRegistry([run_rule, assignment_rule])
        report = RetentionSweeper(registry, private_router, MovableClock(at), budget_seconds=60).sweep("eu")
        assert report.complete
        return {k: v for k, v in report.per_rule.items() if v}

    assert sweep(clock.now() + RUN_LIFETIME - timedelta(hours=1)) == {}
    assert rows(RUNS) and rows(ASSIGNMENTS) == ["A1"]
    assert sweep(clock.now() + RUN_LIFETIME + timedelta(hours=1)) == {StandardRunHistory.name: 2}
    assert rows(RUNS) == [] and rows(ASSIGNMENTS) == ["A1"]  # configuration stays with the partner
    schedule = partner.subscription.deletion_schedule
    assert schedule is not None and schedule.personnel_data_at is not None
    assert sweep(schedule.personnel_data_at + timedelta(days=1)) == {"standards.assignments": 1}
    assert rows(ASSIGNMENTS) == []
