"""Watches over stored state no event announces, run hourly: a tenant whose syncs have failed for 24
hours becomes an event (and so an alert) once, and another when a sync succeeds again; an open
data-subject request 2 days before its due date becomes one too. Syncs and requests record their
state on their rows; the watch reads those rows rather than their paths growing clocks of their own."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.alerts.routing import CONDITIONS, condition_key
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

FAILING_FOR = timedelta(hours=24)
_TENANTS = "tenants"  # the tenants area's table (read only here)
_ACTOR = {"type": "system", "id": "sync-watch"}


def failing_condition(tenant_id: str) -> str:
    return f"{tenant_id}|syncFailing"


class SyncWatch:
    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def check_syncs(self) -> tuple[int, int]:
        """Returns (tenants newly failing for a day, tenants recovered)."""
        now = self.clock.now()
        cutoff = isoformat(now - FAILING_FOR)
        tenants = self.account.table(_TENANTS)
        conditions = self.account.table(CONDITIONS)
        log = AuditLog(self.account, self.clock)
        failing = 0
        rows = tables.query(
            tenants,
            "lastSyncState eq 'failed' and status eq 'active'",
            select=["PartitionKey", "RowKey", "lastSuccessAt", "createdAt", "lastSyncFinishedAt"],
        )
        for row in rows:
            partner, tenant = str(row["PartitionKey"]), str(row["RowKey"])
            since = str(row.get("lastSuccessAt") or row.get("createdAt") or "")
            if not since or since > cutoff:
                continue
            if tables.get(conditions, partner, condition_key(failing_condition(tenant))) is not None:
                continue  # alerted already, not cleared since
            log.append(partner, self._event("tenant.sync.failing", tenant, {"lastSuccessAt": since}))
            failing += 1
        recovered = 0
        for row in tables.query(conditions, tables.eq("alertType", "tenant.sync.failing")):
            partner, tenant = str(row["PartitionKey"]), str(row.get("tenantId") or "")
            current = tables.get(tenants, partner, tenant) if tenant else None
            if current is None or current.get("lastSyncState") == "succeeded":
                log.append(partner, self._event("tenant.sync.recovered", tenant, {}))
                recovered += 1
        return failing, recovered

    @staticmethod
    def _event(action: str, tenant_id: str, details: dict[str, Any]) -> NewEvent:
        return NewEvent(
            action=action, actor=_ACTOR, target={"type": "tenant", "id": tenant_id}, details=details
        )


DUE_SOON = timedelta(days=2)
_REQUESTS = "privacyrequests"  # the privacy area's table (read only here)
_OPEN = ("received", "awaitingApproval", "approved", "inProgress", "failed")
DUE_SOON_ACTION = "privacy.request.dueIn2Days"


def due_soon_condition(request_id: str) -> str:
    return f"request|{request_id}|{DUE_SOON_ACTION}"


class RequestDueWatch:
    """A data-subject request still open 2 days before its due date becomes an event, once (the
    privacy area's own watch raises the 7-day and overdue ones)."""

    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def check_requests(self) -> int:
        now = self.clock.now()
        requests = self.account.table(_REQUESTS)
        conditions = self.account.table(CONDITIONS)
        log = AuditLog(self.account, self.clock)
        states = " or ".join(tables.eq("state", s) for s in _OPEN)
        start, end = tables.literal(isoformat(now)), tables.literal(isoformat(now + DUE_SOON))
        window = f"dueAt gt {start} and dueAt le {end}"
        raised = 0
        for row in tables.query(requests, f"RowKey lt '~' and {window} and ({states})"):
            partner, request = str(row["PartitionKey"]), str(row["RowKey"])
            if tables.get(conditions, partner, condition_key(due_soon_condition(request))) is not None:
                continue
            tenant = str(row.get("tenantId") or row.get("orgTenantId") or "") or None
            log.append(
                partner,
                NewEvent(
                    action=DUE_SOON_ACTION,
                    actor={"type": "system", "id": "deadline-watch"},
                    target={"type": "privacyRequest", "id": request},
                    details={"type": row.get("type"), "dueAt": row.get("dueAt"), "state": row.get("state")},
                    tenant_id=tenant,
                ),
            )
            raised += 1
        return raised
