"""A standard run over many tenants as a long operation: 202 + a status resource, queued, resumable.

`StandardRuns.start` creates the run's row (the standard's version, mode and every target tenant, fixed
then) and queues its ids; the region's queue trigger calls `run`, which takes the row's lease
(`shared/storage/leases.py`, as offboarding does) and works through the tenants without a progress
row yet, writing each tenant's outcome as soon as it is known. A worker killed mid-way leaves the
finished tenants finished; the redelivered message carries on with the rest. A run made for an
assignment's period has an id derived from the assignment and the period, so creating it twice (a
restart, two timer instances) finds the first and runs nothing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ulid import ULID

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import isoformat, parse_iso
from shared.errors import not_found
from shared.partners import subscription as subs
from shared.standards.models import RunMessage, RunOperationOut, RunTrigger, TenantProgress
from shared.storage import leases, tables
from shared.storage.queues import enqueue

if TYPE_CHECKING:
    from shared.standards.models import StandardOut
    from shared.standards.service import StandardService

log = logging.getLogger("tenantry.standards.runs")

RUNS = "standardruns"  # PartitionKey: partner; RowKey `{run}` (the run) and `{run}~{tenant}` (progress)
RUN_QUEUE = "standardrun"  # one per region, in the region's account
LEASE = timedelta(minutes=5)  # shorter than the queue's 10-minute redelivery, as for offboarding
# Azure Tables keeps a string property under 64 KiB (32K UTF-16 units): targets go in chunks of this.
_CHUNK = 30_000
_TENANT_SEP = "~"


def run_id_for(assignment_id: str, period: str, period_start: datetime) -> str:
    """A ULID fixed by the assignment and its period: the period's time, then a digest of both."""
    digest = hashlib.sha256(f"{assignment_id}|{period}".encode()).digest()
    millis = int(period_start.timestamp() * 1000)
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest[:10]))


def _targets(row: Any) -> list[str]:
    text = "".join(str(row.get(f"targets{i}") or "") for i in range(int(row.get("targetChunks", 0))))
    found: list[str] = json.loads(text) if text else []
    return found


def _target_fields(targets: list[str]) -> dict[str, Any]:
    text = json.dumps(targets)
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    return {"targetChunks": len(chunks), **{f"targets{i}": c for i, c in enumerate(chunks)}}


def _progress(row: Any) -> TenantProgress:
    return TenantProgress(
        tenant_id=str(row["tenantId"]),
        state=row["state"],
        reason=row.get("reason") or None,
        passed=int(row.get("passed", 0)),
        failed=int(row.get("failed", 0)),
        failing=json.loads(row.get("failing") or "[]"),
        finished_at=parse_iso(row["finishedAt"]) if row.get("finishedAt") else None,
    )


class StandardRuns:
    """One partner's long standard runs: start, status, and the queue worker's run."""

    def __init__(
        self,
        standards: StandardService,
        *,
        dispatch: Callable[[RunMessage, int | None], None] | None = None,
    ):
        self.standards = standards
        self.partner = standards.partner
        self.account = standards.account
        self.clock = standards.clock
        self.dispatch = dispatch or self._enqueue

    def _enqueue(self, message: RunMessage, delay_seconds: int | None = None) -> None:
        enqueue(self.account.queue(RUN_QUEUE), message, delay_seconds=delay_seconds)

    @property
    def _table(self) -> Any:
        return self.account.table(RUNS)

    def _message(self, run_id: str) -> RunMessage:
        return RunMessage(partner_id=self.partner.id, run_id=run_id)

    # --- start and status ----------------------------------------------------------------------

    def start(
        self,
        standard: StandardOut,
        targets: list[str],
        *,
        mode: str,
        dry_run: bool,
        context: ActionContext,
        trigger: RunTrigger,
        assignment_id: str | None = None,
        run_id: str | None = None,
    ) -> tuple[RunOperationOut, bool]:
        """Creates and queues the run; (the run, whether this call created it). A run of the same id
        already made is answered as it stands (queued again if it never started)."""
        from azure.core.exceptions import ResourceExistsError

        from shared.ids import new_id

        run_id = run_id or new_id()
        now = self.clock.now()
        entity: dict[str, Any] = {
            "PartitionKey": self.partner.id,
            "RowKey": run_id,
            "standardId": standard.id,
            "version": standard.version,
            "mode": mode,
            "dryRun": dry_run,
            "trigger": trigger,
            "assignmentId": assignment_id or "",
            "state": "queued",
            "createdAt": isoformat(now),
            "attempts": 0,
            "completed": 0,
            "actorType": context.actor.type,
            "actorId": context.actor.id,
            "actorDisplay": context.actor.display or "",
            "requestId": context.request_id or "",
            "clientIp": context.client_ip or "",
            **_target_fields(sorted(set(targets))),
        }
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            existing = tables.get(self._table, self.partner.id, run_id)
            assert existing is not None
            if existing["state"] == "queued":
                self.dispatch(self._message(run_id), None)  # its first message may have been lost
            return self._out(existing, lambda _: True), False
        context.record(
            self.standards.audit,
            self.partner.id,
            "standard.runStarted",
            {"type": "standard", "id": standard.id},
            details={
                "runId": run_id,
                "version": standard.version,
                "mode": mode,
                "dryRun": dry_run,
                "trigger": trigger,
                "tenants": len(set(targets)),
                **({"assignmentId": assignment_id} if assignment_id else {}),
            },
        )
        self.dispatch(self._message(run_id), None)
        return self._out(tables.Row(entity), lambda _: True), True

    def get(self, run_id: str, visible: Callable[[str], bool]) -> RunOperationOut:
        """The run's status; a scoped caller sees the lines of its tenants only, and none of a run
        over none of them (404, as for another partner's run)."""
        row = tables.get(self._table, self.partner.id, run_id.upper())
        if row is None or not any(visible(t) for t in _targets(row)):
            raise not_found("No such standard run.")
        return self._out(row, visible)

    def _done(self, run_id: str) -> dict[str, Any]:
        text = (
            f"{tables.partition(self.partner.id)} and RowKey gt {tables.literal(run_id + _TENANT_SEP)}"
            f" and RowKey lt {tables.literal(run_id + _TENANT_SEP * 2)}"
        )
        return {str(r["tenantId"]): r for r in tables.query(self._table, text)}

    def _out(self, row: Any, visible: Callable[[str], bool]) -> RunOperationOut:
        done = self._done(str(row["RowKey"]))
        lines = [
            _progress(done[t]) if t in done else TenantProgress(tenant_id=t, state="pending")
            for t in _targets(row)
            if visible(t)
        ]
        return RunOperationOut(
            id=str(row["RowKey"]),
            standard_id=str(row["standardId"]),
            version=int(row["version"]),
            mode=row["mode"],
            dry_run=bool(row.get("dryRun")),
            trigger=row["trigger"],
            assignment_id=row.get("assignmentId") or None,
            state=row["state"],
            created_at=parse_iso(row["createdAt"]),
            started_at=parse_iso(row["startedAt"]) if row.get("startedAt") else None,
            finished_at=parse_iso(row["finishedAt"]) if row.get("finishedAt") else None,
            attempts=int(row.get("attempts", 0)),
            total=len(lines),
            completed=sum(line.state != "pending" for line in lines),
            error=row.get("error") or None,
            tenants=lines,
        )

    # --- the worker ----------------------------------------------------------------------------

    def run(  # noqa: PLR0911 - one return per way an attempt ends
        self, run_id: str, *, final_attempt: bool = False
    ) -> RunOperationOut | None:
        """Works through the tenants not done yet; None when there is no such run or it waits."""
        row = tables.get(self._table, self.partner.id, run_id)
        if row is None:
            return None
        if row["state"] in ("succeeded", "failed"):
            return self._out(row, lambda _: True)
        try:
            row = leases.claim(self._table, row, self.clock.now(), LEASE)
        except leases.LeaseBusyError as busy:
            # Held by another worker (or one killed mid-way, until its lease ends): look again then.
            self.dispatch(self._message(run_id), busy.retry_in)
            return None
        context = ActionContext(
            Actor(str(row["actorType"]), str(row["actorId"]), str(row.get("actorDisplay") or "") or None),
            str(row.get("requestId") or "") or None,
            str(row.get("clientIp") or "") or None,
        )
        try:
            standard = self.standards.get_standard_at(str(row["standardId"]), int(row["version"]))
            refusal = self._refusal(row)
            if refusal is not None:
                return self._finish(row, error=refusal)
            for tenant_id in self._pending(row):
                outcome = self.standards.run_tenant(
                    tenant_id, standard, row["mode"], bool(row.get("dryRun")), context
                )
                self._table.upsert_entity(
                    {
                        "PartitionKey": self.partner.id,
                        "RowKey": f"{run_id}{_TENANT_SEP}{tenant_id}",
                        "tenantId": tenant_id,
                        "state": outcome.outcome,
                        "reason": outcome.reason or "",
                        "passed": outcome.passed,
                        "failed": outcome.failed,
                        "failing": json.dumps([s.id for s in outcome.settings if s.state == "fail"]),
                        "finishedAt": isoformat(self.clock.now()),
                        "createdAt": row["createdAt"],
                    }
                )
                # Renews the lease and proves it is still ours: a worker taken over stops here.
                row = leases.save(
                    self._table,
                    row,
                    {
                        "completed": int(row.get("completed", 0)) + 1,
                        "leaseUntil": isoformat(self.clock.now() + LEASE),
                    },
                )
            return self._finish(row)
        except leases.LeaseBusyError:
            return None  # another worker took the run over and carries on
        except Exception as error:
            if final_attempt:
                return self._finish(row, error=f"gave up: {type(error).__name__}")
            leases.release(self._table, row)
            raise

    def _pending(self, row: Any) -> Iterator[str]:
        done = set(self._done(str(row["RowKey"])))
        return (t for t in _targets(row) if t not in done)

    def _refusal(self, row: Any) -> str | None:
        """A read-only subscription changes no tenant: a remediation run stops (a report still runs)."""
        if row["mode"] != "remediate" or row.get("dryRun"):
            return None
        now = self.clock.now()
        refusal = subs.write_refusal(subs.advance(self.partner.subscription, now), now)
        return None if refusal is None else f"{refusal.kind}: {refusal.detail}"

    def _finish(self, row: Any, *, error: str | None = None) -> RunOperationOut:
        row = leases.save(
            self._table,
            row,
            {
                "state": "failed" if error else "succeeded",
                "finishedAt": isoformat(self.clock.now()),
                "leaseUntil": "",
                "error": (error or "")[:500],
            },
        )
        log.info("standard run %s %s", row["RowKey"], row["state"])
        return self._out(row, lambda _: True)
