"""Tenants of one partner: onboarding under the subscription's limit, syncs, reads, management, removal."""

from __future__ import annotations

import asyncio
import json
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
    GraphUser,
)
from shared.audit.context import ActionContext, diff
from shared.audit.log import AuditLog
from shared.audit.seal import EventSubject, tenant_scope
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, not_found
from shared.ids import new_id
from shared.partners import subscription as subs
from shared.privacy.flags import refuse_if_restricted, tenant_partition
from shared.storage.entities import page, raise_if_conflict
from shared.storage.queues import enqueue
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, GraphAccess, call_graph
from shared.tenants.models import (
    QUEUE,
    BaselineOut,
    BaselineSettings,
    CheckResult,
    ConfigurationOut,
    GroupOut,
    LicenceChangeIn,
    SignInResult,
    SyncCounts,
    SyncError,
    SyncMessage,
    SyncOut,
    SyncSummary,
    TenantCounts,
    TenantIn,
    TenantOut,
    UserOut,
    UserPatch,
    UserQuery,
)
from shared.tenants.proof import PENDING, PROVEN, ProofUnavailableError, TenantProof, access_of, not_proven
from shared.tenants.store import DirectoryStore, group_from_entity, group_members, user_from_entity
from shared.tenants.sync import SNAPSHOTS, SyncEngine, SyncInput, TenantGoneError, elapsed_ms
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.partners.service import Partner
    from shared.privacy.keyed import KeyedHash
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.tenants")

TENANTS = "tenants"
SYNCS = "tenantsyncs"
BASELINES = "tenantbaselines"
_META = "~meta"  # per partner: the count of tenants, guarded by its ETag
_SETTINGS = "~settings"
STALE_SYNC = timedelta(minutes=30)  # a queued/running sync older than this is presumed lost
SYNC_LEASE = timedelta(seconds=120)  # renewed after every page; a killed run frees it this soon


def _tenant_limit(partner: Partner, now: Any) -> int:
    return subs.advance(partner.subscription, now).tenant_limit


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
    """Deletes a tenant's end-user data, snapshots, sync records and baseline (not its audit events).

    Used when the partner removes the tenant and by the retention sweep when the subscription ends.
    """
    with ThreadPoolExecutor(workers) as pool:
        DirectoryStore(account, partner_id, tenant_id, pool).purge()
    container = account.container(SNAPSHOTS)
    for blob in container.list_blobs(name_starts_with=f"{partner_id}/{tenant_id}/"):
        with suppress(Exception):
            container.delete_blob(blob.name)
    syncs = account.table(SYNCS)
    partition = f"{partner_id}~{tenant_id}"
    for row in syncs.query_entities("PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"]):
        with suppress(Exception):
            syncs.delete_entity(partition, str(row["RowKey"]))
    with suppress(Exception):
        account.table(BASELINES).delete_entity(partner_id, tenant_id)


class TenantService:
    """The tenants of one partner, in the partner's region."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        clock: Clock,
        graph: GraphAccess | None,
        *,
        sync_workers: int = 8,
        dispatch: Callable[[SyncMessage, int | None], None] | None = None,
        index_key: KeyedHash,
        proof: TenantProof,
    ):
        self.account = account
        self.index_key = index_key  # the subject index's (shared/privacy/subjects/index.py)
        self.partner = partner
        self.clock = clock
        self.graph = graph
        self.sync_workers = sync_workers
        # How a queued sync reaches a runner: the region's queue (tests may run syncs themselves).
        self.dispatch = dispatch or self._enqueue
        self.audit = AuditLog(account, clock)
        self.proof = proof

    # --- tenants ---------------------------------------------------------------------------

    def _meta(self) -> Any:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        table = self.account.table(TENANTS)
        try:
            return table.get_entity(self.partner.id, _META)
        except ResourceNotFoundError:
            with suppress(ResourceExistsError):
                table.create_entity({"PartitionKey": self.partner.id, "RowKey": _META, "count": 0})
            return table.get_entity(self.partner.id, _META)

    def _count_change(self, meta: Any, delta: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        return (
            "update",
            {"PartitionKey": self.partner.id, "RowKey": _META, "count": int(meta["count"]) + delta},
            {
                "mode": UpdateMode.REPLACE,
                "etag": meta.metadata["etag"],
                "match_condition": MatchConditions.IfNotModified,
            },
        )

    def create(self, request: TenantIn, context: ActionContext, usage: UsageMeter | None = None) -> TenantOut:
        from azure.data.tables import TableTransactionError

        tenant_id = str(request.tenant_id).lower()
        self.proof.refuse_if_held_elsewhere(tenant_id)
        now = self.clock.now()
        limit = _tenant_limit(self.partner, now)
        entity = {
            "PartitionKey": self.partner.id,
            "RowKey": tenant_id,
            "displayName": request.display_name,
            "status": "active",
            "createdAt": isoformat(now),
            "credentialRef": DEFAULT_CREDENTIAL,
            "users": 0,
            "groups": 0,
            "accessState": PENDING,
            "accessSince": isoformat(now),
        }
        for _ in range(20):
            meta = self._meta()
            count = int(meta["count"])
            if count >= limit:
                raise ProblemError(
                    409,
                    "tenant-limit-reached",
                    "The subscription's tenant limit is reached.",
                    f"The subscription allows {limit} tenants (tenantLimit) and has {count}; "
                    "remove a tenant or raise the limit.",
                    extra={"tenantLimit": limit},
                )
            try:
                self.account.table(TENANTS).submit_transaction(
                    [("create", entity), self._count_change(meta, 1)]
                )
                break
            except TableTransactionError as error:
                if error.status_code == 409:
                    raise ProblemError(
                        409,
                        "tenant-exists",
                        "Tenant already added.",
                        f"Tenant {tenant_id} is already managed.",
                    ) from None
                if error.status_code != 412:
                    raise
        else:
            raise_if_conflict(type("Conflict", (), {"status_code": 409})())
        context.record(
            self.audit,
            self.partner.id,
            "tenant.created",
            {"type": "tenant", "id": tenant_id},
            details={"displayName": request.display_name, "tenantLimit": limit},
        )
        if usage is not None:
            usage.peak(self.partner.id, Unit.TENANTS, count + 1)
        try:
            row = self.proof.prove_at_onboarding(self._entity(tenant_id), context)
        except ProblemError:
            # Proven, but another partner's claim won the race: nothing of this onboarding stays.
            self._remove_row(tenant_id)
            raise
        if row.get("accessState") == PROVEN:
            self.request_sync(tenant_id, "onboarding", None)
        return tenant_out(self._entity(tenant_id))

    def _remove_row(self, tenant_id: str) -> None:
        from azure.data.tables import TableTransactionError

        for _ in range(20):
            meta = self._meta()
            try:
                self.account.table(TENANTS).submit_transaction(
                    [
                        ("delete", {"PartitionKey": self.partner.id, "RowKey": tenant_id}),
                        self._count_change(meta, -1),
                    ]
                )
                return
            except TableTransactionError as error:
                if error.status_code == 404:
                    raise not_found("No such tenant.") from None
                if error.status_code != 412:
                    raise

    def _proven(self, tenant_id: str) -> Any:
        """The tenant's row, if its proof holds: nothing is read from or written to Graph otherwise."""
        entity = self._entity(tenant_id)
        if entity.get("accessState") != PROVEN:
            raise not_proven(access_of(entity))
        return entity

    def complete_sign_in(
        self, sign_in_id: str, code: str, *, request_id: str | None, client_ip: str | None
    ) -> SignInResult:
        """An administrator's sign-in came back; a customer tenant it proves starts its first sync."""
        result = self.proof.complete_sign_in(sign_in_id, code, request_id=request_id, client_ip=client_ip)
        if result.access is not None and result.access.state == PROVEN:
            self.request_sync(result.tenant_id, "onboarding", None)
        return result

    def verify(self, tenant_id: str, context: ActionContext) -> TenantOut:
        """Checks GDAP now; a tenant proven for the first time starts its first sync."""
        before = self._entity(tenant_id).get("accessState")
        row = self.proof.verify(tenant_id, context)
        if before != PROVEN and row.get("accessState") == PROVEN:
            self.request_sync(str(row["RowKey"]), "onboarding", None)
        return tenant_out(self._entity(tenant_id))

    def _entity(self, tenant_id: str, *, deleting_ok: bool = False) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        tenant_id = tenant_id.lower()
        if not tenant_id or tenant_id.startswith("~"):
            raise not_found("No such tenant.")
        try:
            entity = self.account.table(TENANTS).get_entity(self.partner.id, tenant_id)
        except ResourceNotFoundError:
            raise not_found("No such tenant.") from None
        if entity["status"] != "active" and not deleting_ok:
            raise not_found("No such tenant.")
        return entity

    def get(self, tenant_id: str) -> TenantOut:
        return tenant_out(self._entity(tenant_id))

    def list_tenants(
        self, top: int, continuation: str | None, visible: Callable[[str], bool]
    ) -> tuple[list[TenantOut], str | None]:
        rows, token = page(
            self.account.table(TENANTS),
            f"PartitionKey eq '{self.partner.id}' and RowKey lt '~'",
            top,
            continuation,
        )
        return [tenant_out(r) for r in rows if visible(str(r["RowKey"]))], token

    def active_tenant_ids(self) -> list[str]:
        rows = self.account.table(TENANTS).query_entities(
            f"PartitionKey eq '{self.partner.id}' and RowKey lt '~' and status eq 'active'", select=["RowKey"]
        )
        return [str(r["RowKey"]) for r in rows]

    def delete(self, tenant_id: str, context: ActionContext) -> None:
        """Deletes the tenant's end-user data, snapshots and sync records; its audit events stay."""
        from azure.data.tables import UpdateMode

        entity = self._entity(tenant_id, deleting_ok=True)
        tenant_id = str(entity["RowKey"])
        table = self.account.table(TENANTS)
        # Marked first, so that a sync still running stops, and a crash part-way leaves a tenant
        # a repeated DELETE finishes rather than one that looks intact.
        table.update_entity(
            {"PartitionKey": self.partner.id, "RowKey": tenant_id, "status": "deleting"},
            mode=UpdateMode.MERGE,
        )
        self.purge_data(tenant_id)
        self.proof.release(tenant_id)
        self._remove_row(tenant_id)
        context.record(
            self.audit,
            self.partner.id,
            "tenant.deleted",
            {"type": "tenant", "id": tenant_id},
            details={"displayName": entity["displayName"]},
        )

    def purge_data(self, tenant_id: str) -> None:
        purge_tenant_data(self.account, self.partner.id, tenant_id, self.sync_workers)

    # --- syncs ----------------------------------------------------------------------------

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
        self._entity(tenant_id)
        return sync_out(self._sync_entity(tenant_id, sync_id))

    def list_syncs(
        self, tenant_id: str, top: int, continuation: str | None
    ) -> tuple[list[SyncOut], str | None]:
        self._entity(tenant_id)
        rows, token = page(
            self.account.table(SYNCS),
            f"PartitionKey eq '{self._sync_partition(tenant_id)}'",
            top,
            continuation,
        )
        return [sync_out(r) for r in rows], token

    def request_sync(self, tenant_id: str, trigger: str, context: ActionContext | None) -> SyncOut:
        """Queues a sync, or answers with the one already queued or running (one at a time per tenant)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        tenant = self._entity(tenant_id)
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
                etag=tenant.metadata["etag"],
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

    def _take_lease(self, tenant: Any, runner: str) -> int | None:
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
                    "leaseUntil": isoformat(now + SYNC_LEASE),
                },
                mode=UpdateMode.MERGE,
                etag=tenant.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
            return int(SYNC_LEASE.total_seconds())
        return None

    def _release_lease(self, tenant_id: str, runner: str) -> None:
        """A run that failed and knows it frees the lease at once, so the queue's retry can start."""
        from azure.data.tables import UpdateMode

        with suppress(ProblemError):
            current = self._entity(tenant_id)
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
            tenant = self._entity(tenant_id)
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
            self.baseline_settings(),
            attempts,
        )

        def still_there() -> bool:
            """Between pages: the tenant is still managed, and the lease is still ours (renewed)."""
            with suppress(ProblemError):
                current = self._entity(tenant_id)
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
            self.purge_data(tenant_id)
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
                    for _ in DirectoryStore(self.account, self.partner.id, tenant_id, pool).iter_users(
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
                self.purge_data(tenant_id)
                return SyncOut(
                    id=sync_id,
                    tenant_id=tenant_id,
                    state="failed",
                    trigger=record["trigger"],
                    queued_at=self.clock.now(),
                )
            raise
        self._store_baseline(tenant_id, sync_id, result.baseline)
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
        access = access_of(self._entity(tenant_id))
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

    # --- users and groups ------------------------------------------------------------------

    def _store(self, tenant_id: str, pool: ThreadPoolExecutor | None = None) -> DirectoryStore:
        return DirectoryStore(
            self.account, self.partner.id, tenant_id.lower(), pool or ThreadPoolExecutor(1), self.index_key
        )

    def list_users(self, tenant_id: str, query: UserQuery) -> tuple[list[UserOut], str | None]:
        tenant_id = str(self._proven(tenant_id)["RowKey"])
        server = ""
        if query.enabled is not None:
            server = f" and accountEnabled eq {'true' if query.enabled else 'false'}"
        text = (query.search or "").lower()
        licence = (query.licence or "").lower()

        def keep(row: Any) -> bool:
            if text and not any(
                text in str(row.get(f) or "").lower() for f in ("displayName", "userPrincipalName", "mail")
            ):
                return False
            return not licence or licence in str(row.get("assignedLicenses") or "").lower()

        rows, token = self._store(tenant_id).page_users(query.top, query.continuation_token, server, keep)
        return [UserOut.model_validate(user_from_entity(r)) for r in rows], token

    def _user_row(self, tenant_id: str, user_id: str) -> Any:
        row = self._store(tenant_id).get_user(user_id.lower()) if len(user_id) <= 64 else None
        if row is None:
            raise not_found("No such user in this tenant.")
        return row

    def _writable_user_row(self, tenant_id: str, user_id: str) -> Any:
        """The user's row, unless a restriction or objection stops changes to them (Art. 18, 21)."""
        row = self._user_row(tenant_id, user_id)
        refuse_if_restricted(self.account, tenant_partition(self.partner.id, tenant_id), str(row["RowKey"]))
        return row

    def get_user(self, tenant_id: str, user_id: str) -> UserOut:
        tenant_id = str(self._proven(tenant_id)["RowKey"])
        return UserOut.model_validate(user_from_entity(self._user_row(tenant_id, user_id)))

    def _writer_call(self, tenant: Any, action: Callable[[Any], Any]) -> Any:
        assert self.graph is not None, "management needs Graph access"
        writer = self.graph.writer(
            str(tenant["RowKey"]), str(tenant.get("credentialRef") or DEFAULT_CREDENTIAL)
        )

        async def run() -> Any:
            async with writer:
                return await action(writer)

        return call_graph(lambda: asyncio.run(run()))

    def _refresh_user(self, tenant: Any, user_id: str) -> Any:
        user: GraphUser = self._writer_call(tenant, lambda w: w.get_user(user_id))
        return self._store(str(tenant["RowKey"])).update_user_row(user)

    def update_user(self, tenant_id: str, user_id: str, patch: UserPatch, context: ActionContext) -> UserOut:
        tenant = self._proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        before = user_from_entity(row)
        fields = patch.model_dump(exclude_none=True)
        if fields:
            self._writer_call(tenant, lambda w: w.update_user(row["RowKey"], **fields))
        after = user_from_entity(self._refresh_user(tenant, str(row["RowKey"])))
        keys = set(patch.model_dump(by_alias=True, exclude_none=True))
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.updated",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            changes=diff({k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}),
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return UserOut.model_validate(after)

    def change_licences(
        self, tenant_id: str, user_id: str, change: LicenceChangeIn, context: ActionContext
    ) -> UserOut:
        from shared.adapters.graph import LicenceChange

        tenant = self._proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        before = user_from_entity(row)
        held = {lic["skuId"].lower() for lic in before.get("assignedLicenses", [])}
        skus = {
            str(s["skuId"]).lower(): s for s in (self._latest_config(tenant) or {}).get("subscribedSkus", [])
        }
        for item in change.add:
            sku = skus.get(item.sku_id.lower())
            if sku is not None and item.sku_id.lower() not in held:
                free = int(sku.get("prepaidUnits", {}).get("enabled", 0)) - int(sku.get("consumedUnits", 0))
                if free <= 0:
                    raise ProblemError(
                        409,
                        "no-free-licences",
                        "No free licences of that SKU.",
                        f"{sku.get('skuPartNumber') or item.sku_id}: "
                        f"all {sku['prepaidUnits']['enabled']} seats are assigned.",
                    )
        add = [
            LicenceChange(a.sku_id.lower(), tuple(p.lower() for p in a.disabled_plans)) for a in change.add
        ]
        remove = [r.lower() for r in change.remove]
        self._writer_call(tenant, lambda w: w.assign_licences(row["RowKey"], add=add, remove=remove))
        after = user_from_entity(self._refresh_user(tenant, str(row["RowKey"])))
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.licencesChanged",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            changes=diff(
                {"assignedLicenses": before.get("assignedLicenses")},
                {"assignedLicenses": after.get("assignedLicenses")},
            ),
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return UserOut.model_validate(after)

    def list_groups(
        self, tenant_id: str, top: int, continuation: str | None
    ) -> tuple[list[GroupOut], str | None]:
        tenant_id = str(self._proven(tenant_id)["RowKey"])
        from shared.tenants.store import GROUPS, group_partition

        rows, token = page(
            self.account.table(GROUPS),
            f"PartitionKey eq '{group_partition(self.partner.id, tenant_id)}'",
            top,
            continuation,
        )
        return [GroupOut.model_validate(group_from_entity(r, with_members=False)) for r in rows], token

    def _group_row(self, tenant_id: str, group_id: str) -> Any:
        row = self._store(tenant_id).get_group(group_id.lower()) if len(group_id) <= 64 else None
        if row is None:
            raise not_found("No such group in this tenant.")
        return row

    def get_group(self, tenant_id: str, group_id: str) -> GroupOut:
        tenant_id = str(self._proven(tenant_id)["RowKey"])
        return GroupOut.model_validate(
            group_from_entity(self._group_row(tenant_id, group_id), with_members=True)
        )

    def change_member(
        self, tenant_id: str, group_id: str, user_id: str, *, add: bool, context: ActionContext
    ) -> GroupOut:
        from azure.data.tables import UpdateMode

        from shared.adapters.graph import GraphConflictError

        tenant = self._proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        group = self._group_row(tenant_id, group_id)
        user_id = user_id.lower()
        if add:
            self._writable_user_row(tenant_id, user_id)

            async def adding(w: Any) -> None:
                # A retried add that already happened is done, not a conflict.
                with suppress(GraphConflictError):
                    await w.add_group_member(group["RowKey"], user_id)

            self._writer_call(tenant, adding)
        else:
            # Removing needs no synced row (the user may already have left), only no restriction.
            refuse_if_restricted(self.account, tenant_partition(self.partner.id, tenant_id), user_id)
            self._writer_call(tenant, lambda w: w.remove_group_member(group["RowKey"], user_id))
        store = self._store(tenant_id)
        members = group_members(group)
        members = members | {user_id} if add else members - {user_id}
        fields = {
            k: v for k, v in group.items() if not (len(k) == 3 and k.startswith("m") and k[1:].isdigit())
        }
        fields.pop("PartitionKey", None)
        fields.pop("memberCount", None)
        fields.pop("membersTruncated", None)
        store.groups.upsert_entity(store.group_entity(dict(fields), members), mode=UpdateMode.REPLACE)
        context.record(
            self.audit,
            self.partner.id,
            "tenant.group.memberAdded" if add else "tenant.group.memberRemoved",
            {"type": "group", "id": group["RowKey"], "tenantId": tenant_id},
            details={"userId": user_id},
            subject=EventSubject(tenant_scope(tenant_id), user_id, ("details.userId",)),
        )
        return GroupOut.model_validate(
            group_from_entity(self._group_row(tenant_id, group_id), with_members=True)
        )

    # --- configuration ---------------------------------------------------------------------

    def _latest_document(self, tenant: Any) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        name = tenant.get("lastSnapshot")
        if not name:
            return None
        try:
            document: dict[str, Any] = json.loads(
                self.account.container(SNAPSHOTS).download_blob(name).readall()
            )
        except ResourceNotFoundError:
            return None
        return document

    def _latest_config(self, tenant: Any) -> dict[str, Any] | None:
        document = self._latest_document(tenant)
        return document["configuration"] if document else None

    def configuration(self, tenant_id: str) -> ConfigurationOut:
        document = self._latest_document(self._proven(tenant_id))
        if document is None:
            raise not_found("No configuration snapshot yet: the tenant has not synced.")
        return ConfigurationOut(
            sync_id=document["syncId"], taken_at=document["takenAt"], configuration=document["configuration"]
        )

    def set_security_defaults(self, tenant_id: str, enabled: bool, context: ActionContext) -> bool:
        tenant = self._proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        document = self._latest_document(tenant)
        before = ((document or {}).get("configuration", {}).get("securityDefaults") or {}).get("isEnabled")
        self._writer_call(tenant, lambda w: w.set_security_defaults(enabled))
        if document is not None:
            # Our own change is not drift: the stored snapshot takes it, so the next sync compares
            # against what we set.
            config = document["configuration"]
            config["securityDefaults"] = {
                **(config.get("securityDefaults") or {"id": "00000000000000000000000000000000"}),
                "isEnabled": enabled,
            }
            self.account.container(SNAPSHOTS).upload_blob(
                tenant["lastSnapshot"], json.dumps(document).encode(), overwrite=True
            )
        context.record(
            self.audit,
            self.partner.id,
            "tenant.securityDefaults.changed",
            {"type": "tenant", "id": tenant_id},
            changes={"securityDefaults": {"before": before, "after": enabled}},
        )
        return enabled

    # --- baselines -------------------------------------------------------------------------

    def baseline_settings(self) -> BaselineSettings:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self.account.table(BASELINES).get_entity(self.partner.id, _SETTINGS)
        except ResourceNotFoundError:
            return BaselineSettings()
        return BaselineSettings.model_validate_json(row["settings"])

    def save_baseline_settings(self, settings: BaselineSettings, context: ActionContext) -> BaselineSettings:
        before = self.baseline_settings()
        self.account.table(BASELINES).upsert_entity(
            {"PartitionKey": self.partner.id, "RowKey": _SETTINGS, "settings": settings.model_dump_json()}
        )
        context.record(
            self.audit,
            self.partner.id,
            "baseline.settingsChanged",
            {"type": "partner", "id": self.partner.id},
            changes=diff(before.model_dump(by_alias=True), settings.model_dump(by_alias=True)),
        )
        return settings

    def _store_baseline(self, tenant_id: str, sync_id: str, results: list[CheckResult]) -> None:
        self.account.table(BASELINES).upsert_entity(
            {
                "PartitionKey": self.partner.id,
                "RowKey": tenant_id,
                "syncId": sync_id,
                "evaluatedAt": isoformat(self.clock.now()),
                "checks": json.dumps([r.model_dump(mode="json", by_alias=True) for r in results]),
            }
        )

    @staticmethod
    def _baseline_out(tenant_id: str, row: Any | None) -> BaselineOut:
        if row is None:
            return BaselineOut(tenant_id=tenant_id)
        checks = [CheckResult.model_validate(c) for c in json.loads(row["checks"])]
        return BaselineOut(
            tenant_id=tenant_id,
            evaluated_at=row["evaluatedAt"],
            sync_id=row["syncId"],
            passed=sum(1 for c in checks if c.state == "pass"),
            failed=sum(1 for c in checks if c.state == "fail"),
            checks=checks,
        )

    def baseline(self, tenant_id: str) -> BaselineOut:
        from azure.core.exceptions import ResourceNotFoundError

        tenant_id = str(self._entity(tenant_id)["RowKey"])
        try:
            row = self.account.table(BASELINES).get_entity(self.partner.id, tenant_id)
        except ResourceNotFoundError:
            row = None
        return self._baseline_out(tenant_id, row)

    def baselines(
        self, top: int, continuation: str | None, visible: Callable[[str], bool]
    ) -> tuple[list[BaselineOut], str | None]:
        rows, token = page(
            self.account.table(BASELINES),
            f"PartitionKey eq '{self.partner.id}' and RowKey lt '~'",
            top,
            continuation,
        )
        return [self._baseline_out(str(r["RowKey"]), r) for r in rows if visible(str(r["RowKey"]))], token
