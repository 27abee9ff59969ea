"""Onboarding and the registry of one partner's tenants: add under the subscription's limit, prove,
read, list, remove.

The count of tenants sits in a per-partner meta row guarded by its ETag, so concurrent onboardings
cannot pass the limit; a tenant proven for the first time starts its first sync.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from shared.audit.context import ActionContext
from shared.clock import Clock, isoformat
from shared.errors import ProblemError, not_found
from shared.partners import subscription as subs
from shared.storage import tables
from shared.tenants.graph_access import DEFAULT_CREDENTIAL
from shared.tenants.models import SignInResult, TenantIn, TenantOut
from shared.tenants.proof import PENDING, PROVEN, TenantProof
from shared.tenants.records import TENANTS, TenantStore, purge_tenant_data, tenant_out
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.audit.log import AuditLog
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage
    from shared.tenants.sync_runner import SyncRunner

_META = "~meta"  # per partner: the count of tenants, guarded by its ETag


def _tenant_limit(partner: Partner, now: Any) -> int:
    sub = subs.advance(partner.subscription, now)
    pending = sub.pending_change.tenant_limit if sub.pending_change is not None else None
    # A smaller plan already chosen for the next cycle: onboarding now must not outgrow it.
    return min(sub.tenant_limit, pending) if pending is not None else sub.tenant_limit


class TenantRegistry:
    """The tenants of one partner, in the partner's region: which there are, and their proof."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        clock: Clock,
        *,
        rows: TenantStore,
        proof: TenantProof,
        syncs: SyncRunner,
        audit: AuditLog,
        purge_workers: int = 8,
    ):
        self.account = account
        self.partner = partner
        self.clock = clock
        self.rows = rows
        self.proof = proof
        self.syncs = syncs  # a tenant proven for the first time starts its first sync
        self.audit = audit
        self.purge_workers = purge_workers

    def _meta(self) -> tables.Row:
        from azure.core.exceptions import ResourceExistsError

        table = self.account.table(TENANTS)
        meta = tables.get(table, self.partner.id, _META)
        if meta is None:
            with suppress(ResourceExistsError):
                table.create_entity({"PartitionKey": self.partner.id, "RowKey": _META, "count": 0})
            meta = tables.get(table, self.partner.id, _META)
        assert meta is not None
        return meta

    def _count_change(self, meta: tables.Row, delta: int) -> tuple[str, dict[str, Any], str | None]:
        # The meta row holds the count alone, so merging over its ETag replaces it.
        return (
            "update",
            {"PartitionKey": self.partner.id, "RowKey": _META, "count": int(meta["count"]) + delta},
            meta.etag,
        )

    def create(self, request: TenantIn, context: ActionContext, usage: UsageMeter | None = None) -> TenantOut:
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
                tables.write(self.account.table(TENANTS), [("create", entity), self._count_change(meta, 1)])
                break
            except tables.BatchRefusedError as error:
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
            tables.raise_if_conflict(type("Conflict", (), {"status_code": 409})())
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
            row = self.proof.prove_at_onboarding(self.rows.get(tenant_id), context)
        except ProblemError:
            # Proven, but another partner's claim won the race: nothing of this onboarding stays.
            self._remove_row(tenant_id)
            raise
        if row.get("accessState") == PROVEN:
            self.syncs.request_sync(tenant_id, "onboarding", None)
        return tenant_out(self.rows.get(tenant_id))

    def _remove_row(self, tenant_id: str) -> None:
        for _ in range(20):
            meta = self._meta()
            try:
                tables.write(
                    self.account.table(TENANTS),
                    [
                        ("delete", {"PartitionKey": self.partner.id, "RowKey": tenant_id}),
                        self._count_change(meta, -1),
                    ],
                )
                return
            except tables.BatchRefusedError as error:
                if error.status_code == 404:
                    raise not_found("No such tenant.") from None
                if error.status_code != 412:
                    raise

    def complete_sign_in(
        self, sign_in_id: str, code: str, *, request_id: str | None, client_ip: str | None
    ) -> SignInResult:
        """An administrator's sign-in came back; a customer tenant it proves starts its first sync."""
        result = self.proof.complete_sign_in(sign_in_id, code, request_id=request_id, client_ip=client_ip)
        if result.access is not None and result.access.state == PROVEN:
            self.syncs.request_sync(result.tenant_id, "onboarding", None)
        return result

    def verify(self, tenant_id: str, context: ActionContext) -> TenantOut:
        """Checks GDAP now; a tenant proven for the first time starts its first sync."""
        before = self.rows.get(tenant_id).get("accessState")
        row = self.proof.verify(tenant_id, context)
        if before != PROVEN and row.get("accessState") == PROVEN:
            self.syncs.request_sync(str(row["RowKey"]), "onboarding", None)
        return tenant_out(self.rows.get(tenant_id))

    def get(self, tenant_id: str) -> TenantOut:
        return tenant_out(self.rows.get(tenant_id))

    def list_tenants(
        self, top: int, continuation: str | None, visible: Callable[[str], bool]
    ) -> tuple[list[TenantOut], str | None]:
        rows, token = tables.page(
            self.account.table(TENANTS),
            f"{tables.partition(self.partner.id)} and RowKey lt '~'",
            top,
            continuation,
        )
        return [tenant_out(r) for r in rows if visible(str(r["RowKey"]))], token

    def list_active_tenant_ids(self) -> list[str]:
        rows = tables.query(
            self.account.table(TENANTS),
            f"{tables.partition(self.partner.id)} and RowKey lt '~' and status eq 'active'",
            select=["RowKey"],
        )
        return [str(r["RowKey"]) for r in rows]

    def delete(self, tenant_id: str, context: ActionContext) -> None:
        """Deletes the tenant's end-user data, snapshots and sync records; its audit events stay."""
        from azure.data.tables import UpdateMode

        entity = self.rows.get(tenant_id, deleting_ok=True)
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
        purge_tenant_data(self.account, self.partner.id, tenant_id, self.purge_workers)
