"""Saved assignments: a standard (pinned or latest) applied to tenants and groups on a schedule.

A partner saves what to apply where, in which mode and when (`daily` at an hour, or `afterSync`).
The hourly timer (`start_due`) and each successful sync (`after_sync`) start runs through
`StandardRuns` with an id derived from the assignment and its period (the day, or the sync), so a
timer that fires twice, two instances, or a restart never run one assignment twice in a period. A
scoped caller assigns, sees and changes only assignments wholly within its tenants.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

from ulid import ULID

from shared.access.principals import SYSTEM
from shared.audit.context import ActionContext
from shared.clock import isoformat, parse_iso
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.standards.models import AssignmentIn, AssignmentList, AssignmentOut, RunOperationOut
from shared.standards.runs import StandardRuns, run_id_for
from shared.storage import tables

if TYPE_CHECKING:
    from shared.access.reach import TenantReach
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.standards.assignments")

ASSIGNMENTS = "standardassignments"  # PartitionKey: partner; RowKey: assignment id


def _version(value: Any) -> int | None:
    return None if value in (None, "", "latest") else int(value)


def assignment_out(row: Any) -> AssignmentOut:
    version = _version(row.get("version"))
    return AssignmentOut(
        id=str(row["RowKey"]),
        standard_id=str(row["standardId"]),
        version="latest" if version is None else version,
        tenant_ids=json.loads(row["tenantIds"]),
        tenant_groups=json.loads(row["tenantGroups"]),
        mode=row["mode"],
        schedule=row["schedule"],
        hour_utc=int(row.get("hourUtc", 0)),
        dry_run=bool(row.get("dryRun")),
        created_at=parse_iso(row["createdAt"]),
        updated_at=parse_iso(row["updatedAt"]),
        last_run_id=row.get("lastRunId") or None,
        last_run_at=parse_iso(row["lastRunAt"]) if row.get("lastRunAt") else None,
    )


class StandardAssignments:
    """One partner's assignments, and the runs they start."""

    def __init__(self, runs: StandardRuns, group_members: Callable[[], Mapping[str, frozenset[str]]]):
        self.runs = runs
        self.standards = runs.standards
        self.partner = runs.partner
        self.clock = runs.clock
        self.group_members = group_members

    @property
    def _table(self) -> Any:
        return self.runs.account.table(ASSIGNMENTS)

    # --- the API --------------------------------------------------------------------------------

    def create_assignment(
        self, body: AssignmentIn, context: ActionContext, reach: TenantReach
    ) -> AssignmentOut:
        fields = self._validated(body, reach)
        now = isoformat(self.clock.now())
        assignment_id = new_id()
        entity = {"PartitionKey": self.partner.id, "RowKey": assignment_id, **fields, "createdAt": now}
        entity["updatedAt"] = now
        self._table.create_entity(entity)
        self._record(context, "standard.assignmentCreated", assignment_id, body)
        return assignment_out(entity)

    def list_assignments(self, reach: TenantReach) -> AssignmentList:
        rows = tables.query(self._table, tables.partition(self.partner.id))
        return AssignmentList(items=[assignment_out(r) for r in rows if self._sees(r, reach)])

    def get_assignment(self, assignment_id: str, reach: TenantReach) -> AssignmentOut:
        return assignment_out(self._row(assignment_id, reach))

    def update_assignment(
        self, assignment_id: str, body: AssignmentIn, context: ActionContext, reach: TenantReach
    ) -> AssignmentOut:
        row = self._row(assignment_id, reach)
        fields = self._validated(body, reach)
        entity = {**row, **fields, "updatedAt": isoformat(self.clock.now())}
        self._table.upsert_entity(entity)
        self._record(context, "standard.assignmentUpdated", str(row["RowKey"]), body)
        return assignment_out(entity)

    def delete_assignment(self, assignment_id: str, context: ActionContext, reach: TenantReach) -> None:
        row = self._row(assignment_id, reach)
        tables.delete(self._table, self.partner.id, str(row["RowKey"]))
        context.record(
            self.standards.audit,
            self.partner.id,
            "standard.assignmentDeleted",
            {"type": "standardAssignment", "id": str(row["RowKey"])},
            details={"standardId": row["standardId"]},
        )

    def run_now(self, assignment_id: str, context: ActionContext, reach: TenantReach) -> RunOperationOut:
        """Starts a run of the assignment now (outside its schedule), over the caller's tenants."""
        row = self._row(assignment_id, reach)
        targets = [t for t in self._targets(row) if reach.allows(t)]
        if not targets:
            raise validation_failed([FieldError("tenantGroups", "The assignment's groups have no tenants.")])
        run, _ = self._start(row, targets, context, trigger="manual")
        return run

    # --- scheduled runs -------------------------------------------------------------------------

    def start_due(self, now: datetime, rows: Iterable[Any] | None = None) -> int:
        """Starts the daily runs due by `now` not started yet this day; how many this call started."""
        started = 0
        found = rows if rows is not None else tables.query(self._table, tables.partition(self.partner.id))
        for row in found:
            if row["schedule"] != "daily" or now.hour < int(row.get("hourUtc", 0)):
                continue
            period = now.date().isoformat()
            at = datetime.combine(now.date(), time(int(row.get("hourUtc", 0))), tzinfo=now.tzinfo)
            started += self._start_for_period(row, period, at, trigger="schedule")
        return started

    def after_sync(self, tenant_id: str, sync_id: str) -> int:
        """Starts each `afterSync` assignment naming the tenant, for it alone, once per sync."""
        tenant_id = tenant_id.lower()
        started = 0
        # The run's id must not depend on when this is called (a redelivered message calls again):
        # its time part is the sync's own (sync ids are ULIDs).
        try:
            at = ULID.from_str(sync_id).datetime
        except ValueError:
            at = datetime.fromtimestamp(0, UTC)
        for row in tables.query(self._table, tables.partition(self.partner.id)):
            if row["schedule"] == "afterSync" and tenant_id in self._targets(row):
                started += self._start_for_period(
                    row, f"sync:{sync_id}", at, trigger="afterSync", only=[tenant_id]
                )
        return started

    def _start_for_period(
        self, row: Any, period: str, at: datetime, *, trigger: Any, only: list[str] | None = None
    ) -> int:
        targets = only if only is not None else self._targets(row)
        if not targets:
            return 0
        run_id = run_id_for(str(row["RowKey"]), period, at)
        try:
            _, created = self._start(row, targets, ActionContext(SYSTEM), trigger=trigger, run_id=run_id)
        except ProblemError as problem:
            # The standard or its pinned version is gone, or the mode no longer fits: nothing runs.
            log.warning("assignment %s not run: %s", row["RowKey"], problem.detail)
            return 0
        return int(created)

    def _start(
        self,
        row: Any,
        targets: list[str],
        context: ActionContext,
        *,
        trigger: Any,
        run_id: str | None = None,
    ) -> tuple[RunOperationOut, bool]:
        standard = self.standards.get_standard_at(str(row["standardId"]), _version(row.get("version")))
        self.standards.check_mode(standard, str(row["mode"]))
        run, created = self.runs.start(
            standard,
            targets,
            mode=str(row["mode"]),
            dry_run=bool(row.get("dryRun")),
            context=context,
            trigger=trigger,
            assignment_id=str(row["RowKey"]),
            run_id=run_id,
        )
        if created:
            from contextlib import suppress

            from azure.core.exceptions import ResourceNotFoundError
            from azure.data.tables import UpdateMode

            with suppress(ResourceNotFoundError):  # deleted meanwhile: the run stands on its own
                self._table.update_entity(
                    {
                        "PartitionKey": self.partner.id,
                        "RowKey": str(row["RowKey"]),
                        "lastRunId": run.id,
                        "lastRunAt": isoformat(run.created_at),
                    },
                    mode=UpdateMode.MERGE,
                )
        return run, created

    # --- rules ----------------------------------------------------------------------------------

    def _targets(self, row: Any) -> list[str]:
        """The named tenants and the groups' members now (a group deleted since names none)."""
        found = {str(t).lower() for t in json.loads(row["tenantIds"])}
        groups = json.loads(row["tenantGroups"])
        if groups:
            members = self.group_members()
            for group in groups:
                found |= {t.lower() for t in members.get(group, frozenset())}
        return sorted(found)

    @staticmethod
    def _sees(row: Any, reach: TenantReach) -> bool:
        return all(reach.allows(str(t)) for t in json.loads(row["tenantIds"])) and all(
            reach.sees_group(g) for g in json.loads(row["tenantGroups"])
        )

    def _row(self, assignment_id: str, reach: TenantReach) -> Any:
        row = tables.get(self._table, self.partner.id, assignment_id.upper())
        if row is None or not self._sees(row, reach):
            raise not_found("No such standard assignment.")
        return row

    def _validated(self, body: AssignmentIn, reach: TenantReach) -> dict[str, Any]:
        version = None if body.version == "latest" else int(body.version)
        standard = self.standards.get_standard_at(body.standard_id, version)
        self.standards.check_mode(standard, body.mode)
        if not body.tenant_ids and not body.tenant_groups:
            raise validation_failed([FieldError("tenantIds", "Name at least one tenant or a tenant group.")])
        if body.dry_run and body.mode != "remediate":
            raise validation_failed([FieldError("dryRun", "Only `remediate` mode has a dry run.")])
        tenant_ids: list[str] = []
        for tenant in body.tenant_ids:
            if not reach.allows(tenant.lower()):
                raise not_found("No such tenant.")  # outside the caller's scope, as a missing one
            tenant_ids.append(str(self.standards.rows.get(tenant)["RowKey"]))
        members = self.group_members() if body.tenant_groups else {}
        for group in body.tenant_groups:
            if group not in members or not reach.sees_group(group):
                raise not_found("No such tenant group.")
        return {
            "standardId": standard.id,
            "version": "latest" if version is None else str(version),
            "tenantIds": json.dumps(sorted(set(tenant_ids))),
            "tenantGroups": json.dumps(sorted(set(body.tenant_groups))),
            "mode": body.mode,
            "schedule": body.schedule,
            "hourUtc": body.hour_utc,
            "dryRun": body.dry_run,
        }

    def _record(self, context: ActionContext, action: str, assignment_id: str, body: AssignmentIn) -> None:
        context.record(
            self.standards.audit,
            self.partner.id,
            action,
            {"type": "standardAssignment", "id": assignment_id},
            details={
                "standardId": body.standard_id,
                "version": body.version,
                "mode": body.mode,
                "schedule": body.schedule,
                "tenantIds": sorted(t.lower() for t in body.tenant_ids),
                "tenantGroups": sorted(body.tenant_groups),
            },
        )


def start_due_assignments(
    account: AccountStorage,
    partner: Callable[[str], Partner],
    assignments: Callable[[Partner], StandardAssignments],
    now: datetime,
) -> int:
    """The timer's use case for one region: every partner's daily assignments due by `now`."""
    by_partner: dict[str, list[Any]] = {}
    for row in tables.query(account.table(ASSIGNMENTS), "schedule eq 'daily'"):
        by_partner.setdefault(str(row["PartitionKey"]), []).append(row)
    started = 0
    for partner_id, rows in sorted(by_partner.items()):
        try:
            service = assignments(partner(partner_id))
        except ProblemError:
            continue  # the partner is gone; its rows go with its retention
        started += service.start_due(now, rows)
    return started
