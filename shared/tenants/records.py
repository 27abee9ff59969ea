"""A partner's tenant rows and sync records: where they live, how they read as API models, removal.

Shared by the tenant use cases (registry.py, sync_runner.py, directory.py, baselines.py) so that
each reads a tenant row one way: an unknown, removed or half-deleted tenant is a 404.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from shared.errors import not_found
from shared.privacy.flags import FLAGS, tenant_partition
from shared.reports.kinds import ReportKind
from shared.reports.rows import STANDARDS, ReportRows
from shared.storage import tables
from shared.tenants.models import SyncCounts, SyncError, SyncOut, SyncSummary, TenantCounts, TenantOut
from shared.tenants.proof import PENDING, PROVEN, access_of, not_proven
from shared.tenants.snapshots import SNAPSHOTS
from shared.tenants.store import DirectoryStore

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TENANTS = "tenants"
SYNCS = "tenantsyncs"
BASELINES = "tenantbaselines"


def sync_out(entity: Any) -> SyncOut:
    error = None
    if entity.get("errorCode"):
        error = SyncError(code=str(entity["errorCode"]), message=str(entity.get("errorMessage") or ""))
    return SyncOut(
        id=str(entity["RowKey"]),
        tenant_id=str(entity["tenantId"]),
        state=entity["state"],
        trigger=entity["trigger"],
        full=entity.get("full"),
        attempts=int(entity.get("attempts", 0)),
        counts=SyncCounts.model_validate_json(entity.get("counts") or "{}"),
        queued_at=entity["queuedAt"],
        started_at=entity.get("startedAt"),
        finished_at=entity.get("finishedAt"),
        duration_ms=entity.get("durationMs"),
        error=error,
    )


def tenant_out(entity: Any) -> TenantOut:
    last = None
    if entity.get("lastSyncId"):
        last = SyncSummary(
            id=str(entity["lastSyncId"]),
            state=entity["lastSyncState"],
            finished_at=entity.get("lastSyncFinishedAt"),
        )
    return TenantOut(
        id=str(entity["RowKey"]),
        display_name=str(entity["displayName"]),
        status=entity["status"],
        created_at=entity["createdAt"],
        last_sync=last,
        last_successful_sync_at=entity.get("lastSuccessAt"),
        counts=TenantCounts(users=int(entity.get("users", 0)), groups=int(entity.get("groups", 0))),
        last_error=entity.get("lastError") or None,
        access=access_of(entity),
    )


class TenantStore:
    """One partner's tenant rows in its region."""

    def __init__(self, account: AccountStorage, partner_id: str):
        self.account = account
        self.partner_id = partner_id

    def get(self, tenant_id: str, *, deleting_ok: bool = False) -> tables.Row:
        """The tenant's row; 404 for none, a removed one, or (unless `deleting_ok`) one being deleted."""
        tenant_id = tenant_id.lower()
        if not tenant_id or tenant_id.startswith("~"):
            raise not_found("No such tenant.")
        entity = tables.get(self.account.table(TENANTS), self.partner_id, tenant_id)
        if entity is None:
            raise not_found("No such tenant.")
        if entity["status"] != "active" and not deleting_ok:
            raise not_found("No such tenant.")
        return entity

    def get_proven(self, tenant_id: str) -> Any:
        """The tenant's row, if its proof holds: nothing is read from or written to Graph otherwise."""
        entity = self.get(tenant_id)
        if entity.get("accessState") != PROVEN:
            raise not_proven(access_of(entity))
        return entity


def active_tenants_in(account: AccountStorage) -> dict[str, list[str]]:
    """Partner id -> its tenant ids a sync should look at, for one region (the timer's fan-out).

    A tenant pending proof is never read; one that lost access is still looked at, since the
    sync's proof check is what notices a renewed relationship (and reads nothing else).
    """
    found: dict[str, list[str]] = {}
    rows = account.table(TENANTS).query_entities(
        "RowKey lt '~' and status eq 'active'", select=["PartitionKey", "RowKey", "accessState"]
    )
    for row in rows:
        if row.get("accessState") != PENDING:
            found.setdefault(str(row["PartitionKey"]), []).append(str(row["RowKey"]))
    return found


def purge_tenant_data(account: AccountStorage, partner_id: str, tenant_id: str, workers: int = 8) -> None:
    """Deletes a tenant's end-user data (report and search rows too), snapshots, sync records,
    baseline and restriction flags (not its audit events).

    Used when the partner removes the tenant and by the retention sweep when the subscription ends.
    """
    with ThreadPoolExecutor(workers) as pool:
        DirectoryStore(account, partner_id, tenant_id, pool).purge()
    ReportRows(account).purge_tenant(partner_id, tenant_id, [*ReportKind, STANDARDS])
    container = account.container(SNAPSHOTS)
    for blob in container.list_blobs(name_starts_with=f"{partner_id}/{tenant_id}/"):
        with suppress(Exception):
            container.delete_blob(blob.name)
    syncs = account.table(SYNCS)
    partition = f"{partner_id}~{tenant_id}"
    for row in tables.query(syncs, tables.partition(partition), select=["RowKey"]):
        with suppress(Exception):
            syncs.delete_entity(partition, str(row["RowKey"]))
    with suppress(Exception):
        account.table(BASELINES).delete_entity(partner_id, tenant_id)
    # Offboarding operations and the user template (shared/tenants/offboarding.py, user_templates.py).
    from shared.tenants.lifecycle_models import LIFECYCLE

    tables.delete_partition(account.table(LIFECYCLE), f"{partner_id}~{tenant_id}")
    # Restriction flags of the tenant's end users: nobody is left to restrict.
    tables.delete_partition(account.table(FLAGS), tenant_partition(partner_id, tenant_id))
