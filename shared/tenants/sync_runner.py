"""The sync runner: queues a tenant's sync (one at a time), runs it under a lease, records how it went.

A run reads the tenant through Graph (shared/tenants/sync.py does the reading and writing) only
while the tenant's proof holds; the queue retries transient failures, the final attempt records them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.graph import (
    DeltaTokenExpiredError,
    GraphError,
    GraphThrottledError,
    GraphUnavailableError,
)
from shared.audit.context import ActionContext
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, not_found
from shared.ids import new_id
from shared.storage import tables
from shared.storage.queues import enqueue
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, GraphAccess
from shared.tenants.models import QUEUE, SyncCounts, SyncMessage, SyncOut
from shared.tenants.proof import PROVEN, ProofUnavailableError, TenantProof, access_of, not_proven
from shared.tenants.records import SYNCS, TENANTS, TenantStore, purge_tenant_data, sync_out
from shared.tenants.store import DirectoryStore
from shared.tenants.sync import SyncEngine, SyncInput, TenantGoneError, elapsed_ms

if TYPE_CHECKING:
    from shared.audit.log import AuditLog
    from shared.keys import KeyedHasher
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage
    from shared.tenants.baseline import BaselineChecker
    from shared.tenants.baselines import BaselineService

log = logging.getLogger("tenantry.tenants")

STALE_SYNC = timedelta(minutes=30)  # a queued/running sync older than this is presumed lost
SYNC_LEASE = timedelta(seconds=120)  # renewed after every page; a killed run frees it this soon
# (TENANTRY_WORK_LEASE_SECONDS sets it for the app)


class SyncRunner:
    """The syncs of one partner's tenants, in the partner's region."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        clock: Clock,
        graph: GraphAccess | None,
        *,
        rows: TenantStore,
        proof: TenantProof,
        baselines: BaselineService,
        baseline_checker: BaselineChecker,
        audit: AuditLog,
        index_key: KeyedHasher,
        sync_workers: int = 8,
        dispatch: Callable[[SyncMessage, int | None], None] | None = None,
        lease: timedelta = SYNC_LEASE,
    ):
        self.account = account
        self.lease = lease
        self.partner = partner
        self.clock = clock
        self.graph = graph
        self.rows = rows
        self.proof = proof
        self.baselines = baselines
        # The built-in baseline standard (shared/standards, injected by functions/deps.py).
        self.check_baseline = baseline_checker
        self.audit = audit
        self.index_key = index_key  # the subject index's (shared/privacy/subjects/index.py)
        self.sync_workers = sync_workers
        # How a queued sync reaches a runner: the region's queue (tests may run syncs themselves).
        self.dispatch = dispatch or self._enqueue

    def _enqueue(self, message: SyncMessage, delay_seconds: int | None = None) -> None:
        enqueue(self.account.queue(QUEUE), message, delay_seconds=delay_seconds)

    def _sync_partition(self, tenant_id: str) -> str:
        return f"{self.partner.id}~{tenant_id}"

    def _sync_entity(self, tenant_id: str, sync_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.account.table(SYNCS).get_entity(self._sync_partition(tenant_id), sync_id)
        except ResourceNotFoundError:
            raise not_found("No such sync.") from None

    def get_sync(self, tenant_id: str, sync_id: str) -> SyncOut:
        self.rows.get(tenant_id)
        return sync_out(self._sync_entity(tenant_id, sync_id))

    def list_syncs(
        self, tenant_id: str, top: int, continuation: str | None
    ) -> tuple[list[SyncOut], str | None]:
        self.rows.get(tenant_id)
        rows, token = tables.page(
            self.account.table(SYNCS), tables.partition(self._sync_partition(tenant_id)), top, continuation
        )
        return [sync_out(r) for r in rows], token

    def request_sync(self, tenant_id: str, trigger: str, context: ActionContext | None) -> SyncOut:
        """Queues a sync, or answers with the one already queued or running (one at a time per tenant)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        tenant = self.rows.get(tenant_id)
        if trigger == "manual" and tenant.get("accessState") != PROVEN:
            raise not_proven(access_of(tenant))
        tenant_id = str(tenant["RowKey"])
        active = tenant.get("activeSyncId")
        if active:
            with suppress(ProblemError):
                current = self._sync_entity(tenant_id, str(active))
                updated = current.metadata.get("timestamp")
                fresh = updated is None or self.clock.now() - updated < STALE_SYNC
                if current["state"] in ("queued", "running") and fresh:
                    return sync_out(current)
        now = isoformat(self.clock.now())
        # Newest first in the partition: the RowKey sorts inversely by time.
        sync_id = new_id()
        entity = {
            "PartitionKey": self._sync_partition(tenant_id),
            "RowKey": sync_id,
            "tenantId": tenant_id,
            "state": "queued",
            "trigger": trigger,
            "attempts": 0,
            "queuedAt": now,
        }
        self.account.table(SYNCS).create_entity(entity)
        try:
            self.account.table(TENANTS).update_entity(
                {"PartitionKey": self.partner.id, "RowKey": tenant_id, "activeSyncId": sync_id},
                mode=UpdateMode.MERGE,
                etag=tenant.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
            # Someone else queued one at the same moment: answer with theirs.
            self.account.table(SYNCS).delete_entity(self._sync_partition(tenant_id), sync_id)
            return self.request_sync(tenant_id, trigger, context)
        self.dispatch(SyncMessage(partner_id=self.partner.id, tenant_id=tenant_id, sync_id=sync_id), None)
        if context is not None:
            context.record(
                self.audit,
                self.partner.id,
                "tenant.sync.requested",
                {"type": "tenant", "id": tenant_id},
                details={"syncId": sync_id},
            )
        return sync_out(entity)

    def _take_lease(self, tenant: tables.Row, runner: str) -> int | None:
        """Takes or renews the tenant's sync lease; None when taken, else seconds until it is free."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        now = self.clock.now()
        owner, until = tenant.get("leaseOwner"), tenant.get("leaseUntil")
        if owner and owner != runner and until:
            remaining = (parse_iso(until) - now).total_seconds()
            if remaining > 0:
                return int(remaining) + 1
        try:
            self.account.table(TENANTS).update_entity(
                {
                    "PartitionKey": self.partner.id,
                    "RowKey": tenant["RowKey"],
                    "leaseOwner": runner,
                    "leaseUntil": isoformat(now + self.lease),
                },
                mode=UpdateMode.MERGE,
                etag=tenant.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
            return int(self.lease.total_seconds())
        return None

    def _release_lease(self, tenant_id: str, runner: str) -> None:
        """A run that failed and knows it frees the lease at once, so the queue's retry can start."""
        from azure.data.tables import UpdateMode

        with suppress(ProblemError):
            current = self.rows.get(tenant_id)
            if current.get("leaseOwner") == runner:
                self.account.table(TENANTS).update_entity(
                    {"PartitionKey": self.partner.id, "RowKey": tenant_id, "leaseOwner": ""},
                    mode=UpdateMode.MERGE,
                )

    def _update_sync(self, tenant_id: str, sync_id: str, **fields: Any) -> None:
        from azure.data.tables import UpdateMode

        self.account.table(SYNCS).update_entity(
            {"PartitionKey": self._sync_partition(tenant_id), "RowKey": sync_id, **fields},
            mode=UpdateMode.MERGE,
        )

    def run_sync(  # noqa: PLR0911, PLR0915 - each outcome of a queue delivery answers for itself
        self,
        tenant_id: str,
        sync_id: str,
        *,
        final_attempt: bool,
        on_page: Callable[[int], None] | None = None,
        reader_options: dict[str, Any] | None = None,
    ) -> SyncOut:
        """Runs a queued sync (idempotent: a finished sync is not run again).

        Transient failures (throttling, Graph or storage unavailable, a crash) re-raise so the queue
        retries; on the final attempt, and for refusals no retry can fix, the sync is marked failed.
        """
        from azure.data.tables import UpdateMode

        try:
            record = self._sync_entity(tenant_id, sync_id)
        except ProblemError:
            log.warning("sync %s of a tenant no longer stored: dropped", sync_id)
            return SyncOut(
                id=sync_id, tenant_id=tenant_id, state="failed", trigger="manual", queued_at=self.clock.now()
            )
        if record["state"] in ("succeeded", "failed"):
            return sync_out(record)
        try:
            tenant = self.rows.get(tenant_id)
        except ProblemError:
            self._finish(
                tenant_id,
                sync_id,
                "failed",
                None,
                ("TenantRemoved", "The tenant was removed."),
                time.perf_counter(),
            )
            return sync_out(self._sync_entity(tenant_id, sync_id))
        runner = new_id()
        busy_for = self._take_lease(tenant, runner)
        if busy_for is not None:
            # Another run of this tenant holds the lease (a duplicate delivery, or a run still going):
            # two runs at once could undo each other's work, so this one comes back after the lease.
            self.dispatch(
                SyncMessage(partner_id=self.partner.id, tenant_id=tenant_id, sync_id=sync_id), busy_for
            )
            return sync_out(record)
        started = time.perf_counter()
        attempts = int(record.get("attempts", 0)) + 1
        self._update_sync(
            tenant_id,
            sync_id,
            state="running",
            attempts=attempts,
            startedAt=record.get("startedAt") or isoformat(self.clock.now()),
        )
        refused = self._refused_by_proof(tenant, sync_id, runner, started, final_attempt=final_attempt)
        if refused is not None:
            return refused
        assert self.graph is not None, "a sync needs Graph access"
        job = SyncInput(
            self.partner.id,
            tenant_id,
            sync_id,
            tenant.get("usersDeltaLink"),
            tenant.get("groupsDeltaLink"),
            tenant.get("lastSnapshot"),
            self.baselines.get_settings(),
            attempts,
        )

        def still_there() -> bool:
            """Between pages: the tenant is still managed, and the lease is still ours (renewed)."""
            with suppress(ProblemError):
                current = self.rows.get(tenant_id)
                if current.get("leaseOwner") != runner:
                    return False
                self._take_lease(current, runner)
                return True
            return False

        engine = SyncEngine(
            self.account,
            self.clock,
            workers=self.sync_workers,
            still_there=still_there,
            on_page=on_page,
            index_key=self.index_key,
        )
        try:
            with self.graph.reader(
                tenant_id, str(tenant.get("credentialRef") or DEFAULT_CREDENTIAL), **(reader_options or {})
            ) as reader:
                result = engine.run(job, reader)
        except TenantGoneError:
            purge_tenant_data(self.account, self.partner.id, tenant_id, self.sync_workers)
            return SyncOut(
                id=sync_id,
                tenant_id=tenant_id,
                state="failed",
                trigger=record["trigger"],
                queued_at=self.clock.now(),
            )
        except Exception as error:
            transient = isinstance(
                error, (GraphThrottledError, GraphUnavailableError, DeltaTokenExpiredError)
            ) or not isinstance(error, GraphError)
            code = getattr(error, "code", None) or type(error).__name__
            message = (getattr(error, "message", None) or str(error) or code)[:500]
            log.warning("sync %s of tenant %s attempt %d failed: %s", sync_id, tenant_id, attempts, code)
            if transient and not final_attempt:
                self._update_sync(tenant_id, sync_id, errorCode=code, errorMessage=message)
                self._release_lease(tenant_id, runner)
                raise
            self._finish(tenant_id, sync_id, "failed", None, (code, message), started)
            return sync_out(self._sync_entity(tenant_id, sync_id))
        counts = result.counts
        if not result.full and attempts > 1:
            # A killed attempt already applied part of this round, so the change it counted is
            # lost; a retry counts the stored rows instead (retries are rare, first runs are not).
            with ThreadPoolExecutor(1) as pool:
                counts.users = sum(
                    1
                    for _ in DirectoryStore(self.account, self.partner.id, tenant_id, pool).list_user_rows(
                        select=["RowKey"]
                    )
                )
        elif not result.full:
            counts.users = max(0, int(tenant.get("users", 0)) + counts.users)
        now = isoformat(self.clock.now())
        try:
            self.account.table(TENANTS).update_entity(
                {
                    "PartitionKey": self.partner.id,
                    "RowKey": tenant_id,
                    "usersDeltaLink": result.users_delta_link,
                    "groupsDeltaLink": result.groups_delta_link,
                    "lastSnapshot": result.snapshot,
                    "users": counts.users,
                    "groups": counts.groups
                    if result.full
                    else int(tenant.get("groups", 0)) + counts.groups_upserted - counts.groups_removed,
                    "lastSuccessAt": now,
                },
                mode=UpdateMode.MERGE,
            )
        except Exception:
            if not still_there():
                purge_tenant_data(self.account, self.partner.id, tenant_id, self.sync_workers)
                return SyncOut(
                    id=sync_id,
                    tenant_id=tenant_id,
                    state="failed",
                    trigger=record["trigger"],
                    queued_at=self.clock.now(),
                )
            raise
        self.baselines.replace_results(tenant_id, sync_id, self.check_baseline(tenant_id, result.baseline))
        self._finish(tenant_id, sync_id, "succeeded", counts, None, started, full=result.full)
        return sync_out(self._sync_entity(tenant_id, sync_id))

    def _refused_by_proof(
        self, tenant: Any, sync_id: str, runner: str, started: float, *, final_attempt: bool
    ) -> SyncOut | None:
        """The sync's answer when the tenant's proof does not hold now (None: go ahead and read)."""
        tenant_id = str(tenant["RowKey"])
        try:
            may_sync = self.proof.check_before_sync(tenant)
        except ProofUnavailableError as error:
            if not final_attempt:
                self._update_sync(tenant_id, sync_id, errorCode="ProofUnavailable", errorMessage=str(error))
                self._release_lease(tenant_id, runner)
                raise
            self._finish(tenant_id, sync_id, "failed", None, ("ProofUnavailable", str(error)), started)
            return sync_out(self._sync_entity(tenant_id, sync_id))
        if may_sync:
            return None
        # Nothing of the tenant is read; the proof check already told the partner (an event).
        access = access_of(self.rows.get(tenant_id))
        code = "AccessLost" if access.state == "accessLost" else "TenantNotProven"
        self._finish(tenant_id, sync_id, "failed", None, (code, access.reason or code), started)
        return sync_out(self._sync_entity(tenant_id, sync_id))

    def _finish(  # noqa: PLR0917 - one call per outcome, read in order
        self,
        tenant_id: str,
        sync_id: str,
        state: str,
        counts: SyncCounts | None,
        error: tuple[str, str] | None,
        started: float,
        *,
        full: bool | None = None,
    ) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        now = isoformat(self.clock.now())
        fields: dict[str, Any] = {"state": state, "finishedAt": now, "durationMs": elapsed_ms(started)}
        if counts is not None:
            fields["counts"] = counts.model_dump_json(by_alias=True)
        if full is not None:
            fields["full"] = full
        if error is not None:
            fields["errorCode"], fields["errorMessage"] = error
        else:
            fields["errorCode"], fields["errorMessage"] = "", ""
        self._update_sync(tenant_id, sync_id, **fields)
        with suppress(ResourceNotFoundError):
            self.account.table(TENANTS).update_entity(
                {
                    "PartitionKey": self.partner.id,
                    "RowKey": tenant_id,
                    "activeSyncId": "",
                    "leaseOwner": "",
                    "lastSyncId": sync_id,
                    "lastSyncState": state,
                    "lastSyncFinishedAt": now,
                    "lastError": f"{error[0]}: {error[1]}" if error else "",
                },
                mode=UpdateMode.MERGE,
            )
