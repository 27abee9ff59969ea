"""Tenants of one partner as the trigger layer calls them: one object over the four use cases.

The work lives by use case: onboarding and the registry (registry.py), the sync runner
(sync_runner.py), directory reads and management (directory.py) and baselines (baselines.py).
This facade builds them over one account, partner and clock and keeps one method per endpoint,
so a function in functions/ still calls one service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.audit.log import AuditLog
from shared.tenants.baselines import BaselineService
from shared.tenants.directory import DirectoryService
from shared.tenants.records import TenantStore
from shared.tenants.registry import TenantRegistry
from shared.tenants.snapshots import SnapshotReader
from shared.tenants.sync_runner import SYNC_LEASE, SyncRunner

if TYPE_CHECKING:
    from shared.audit.context import ActionContext
    from shared.clock import Clock
    from shared.keys import KeyedHasher
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage
    from shared.tenants.baseline import BaselineChecker
    from shared.tenants.graph_access import GraphAccess
    from shared.tenants.models import (
        BaselineOut,
        BaselineSettings,
        ConfigurationOut,
        GroupOut,
        LicenceChangeIn,
        MfaResetOut,
        PasswordResetOut,
        SessionsRevokedOut,
        SignInResult,
        SnapshotChanges,
        SnapshotList,
        SyncMessage,
        SyncOut,
        TenantIn,
        TenantOut,
        UserOut,
        UserPatch,
        UserQuery,
    )
    from shared.tenants.proof import TenantProof
    from shared.usage import UsageMeter


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
        index_key: KeyedHasher,
        proof: TenantProof,
        baseline_checker: BaselineChecker,
        sync_lease: timedelta = SYNC_LEASE,
    ):
        self.account = account
        self.partner = partner
        self.clock = clock
        self.proof = proof
        self.audit = AuditLog(account, clock)
        self.rows = TenantStore(account, partner.id)
        self.baselines_of = BaselineService(account, partner.id, clock, self.audit, self.rows)
        self.syncs = SyncRunner(
            account,
            partner,
            clock,
            graph,
            rows=self.rows,
            proof=proof,
            baselines=self.baselines_of,
            baseline_checker=baseline_checker,
            audit=self.audit,
            index_key=index_key,
            sync_workers=sync_workers,
            dispatch=dispatch,
            lease=sync_lease,
        )
        self.registry = TenantRegistry(
            account,
            partner,
            clock,
            rows=self.rows,
            proof=proof,
            syncs=self.syncs,
            audit=self.audit,
            purge_workers=sync_workers,
        )
        self.directory = DirectoryService(
            account, partner, graph, rows=self.rows, audit=self.audit, index_key=index_key
        )

    @property
    def graph(self) -> GraphAccess | None:
        return self.syncs.graph

    @graph.setter
    def graph(self, graph: GraphAccess | None) -> None:
        # Benches swap the Graph access after onboarding: both users of it take the new one.
        self.syncs.graph = graph
        self.directory.graph = graph

    def _entity(self, tenant_id: str, *, deleting_ok: bool = False) -> Any:
        return self.rows.get(tenant_id, deleting_ok=deleting_ok)

    # --- onboarding and the registry ------------------------------------------------------------

    def create(self, request: TenantIn, context: ActionContext, usage: UsageMeter | None = None) -> TenantOut:
        return self.registry.create(request, context, usage)

    def complete_sign_in(
        self, sign_in_id: str, code: str, *, request_id: str | None, client_ip: str | None
    ) -> SignInResult:
        return self.registry.complete_sign_in(sign_in_id, code, request_id=request_id, client_ip=client_ip)

    def verify(self, tenant_id: str, context: ActionContext) -> TenantOut:
        return self.registry.verify(tenant_id, context)

    def get(self, tenant_id: str) -> TenantOut:
        return self.registry.get(tenant_id)

    def list_tenants(
        self, top: int, continuation: str | None, visible: Callable[[str], bool]
    ) -> tuple[list[TenantOut], str | None]:
        return self.registry.list_tenants(top, continuation, visible)

    def list_active_tenant_ids(self) -> list[str]:
        return self.registry.list_active_tenant_ids()

    def delete(self, tenant_id: str, context: ActionContext) -> None:
        self.registry.delete(tenant_id, context)

    def purge_data(self, tenant_id: str) -> None:
        self.registry.purge_data(tenant_id)

    # --- syncs ----------------------------------------------------------------------------------

    def get_sync(self, tenant_id: str, sync_id: str) -> SyncOut:
        return self.syncs.get_sync(tenant_id, sync_id)

    def list_syncs(
        self, tenant_id: str, top: int, continuation: str | None
    ) -> tuple[list[SyncOut], str | None]:
        return self.syncs.list_syncs(tenant_id, top, continuation)

    def request_sync(self, tenant_id: str, trigger: str, context: ActionContext | None) -> SyncOut:
        return self.syncs.request_sync(tenant_id, trigger, context)

    def run_sync(
        self,
        tenant_id: str,
        sync_id: str,
        *,
        final_attempt: bool,
        on_page: Callable[[int], None] | None = None,
        reader_options: dict[str, Any] | None = None,
    ) -> SyncOut:
        return self.syncs.run_sync(
            tenant_id, sync_id, final_attempt=final_attempt, on_page=on_page, reader_options=reader_options
        )

    # --- users, groups, configuration -----------------------------------------------------------

    def list_users(self, tenant_id: str, query: UserQuery) -> tuple[list[UserOut], str | None]:
        return self.directory.list_users(tenant_id, query)

    def get_user(self, tenant_id: str, user_id: str) -> UserOut:
        return self.directory.get_user(tenant_id, user_id)

    def update_user(self, tenant_id: str, user_id: str, patch: UserPatch, context: ActionContext) -> UserOut:
        return self.directory.update_user(tenant_id, user_id, patch, context)

    def change_licences(
        self, tenant_id: str, user_id: str, change: LicenceChangeIn, context: ActionContext
    ) -> UserOut:
        return self.directory.change_licences(tenant_id, user_id, change, context)

    def reset_password(self, tenant_id: str, user_id: str, context: ActionContext) -> PasswordResetOut:
        return self.directory.reset_password(tenant_id, user_id, context)

    def revoke_sessions(self, tenant_id: str, user_id: str, context: ActionContext) -> SessionsRevokedOut:
        return self.directory.revoke_sessions(tenant_id, user_id, context)

    def reset_mfa(self, tenant_id: str, user_id: str, context: ActionContext) -> MfaResetOut:
        return self.directory.reset_mfa(tenant_id, user_id, context)

    def list_groups(
        self, tenant_id: str, top: int, continuation: str | None
    ) -> tuple[list[GroupOut], str | None]:
        return self.directory.list_groups(tenant_id, top, continuation)

    def get_group(self, tenant_id: str, group_id: str) -> GroupOut:
        return self.directory.get_group(tenant_id, group_id)

    def change_member(
        self, tenant_id: str, group_id: str, user_id: str, *, add: bool, context: ActionContext
    ) -> GroupOut:
        return self.directory.change_member(tenant_id, group_id, user_id, add=add, context=context)

    def get_configuration(self, tenant_id: str) -> ConfigurationOut:
        return self.directory.get_configuration(tenant_id)

    def list_snapshots(self, tenant_id: str) -> SnapshotList:
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        return SnapshotReader(self.account, self.partner.id).list_snapshots(tenant_id)

    def list_snapshot_changes(self, tenant_id: str, sync_id: str, since: str | None) -> SnapshotChanges:
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        return SnapshotReader(self.account, self.partner.id).list_changes(tenant_id, sync_id, since)

    def update_security_defaults(self, tenant_id: str, enabled: bool, context: ActionContext) -> bool:
        return self.directory.update_security_defaults(tenant_id, enabled, context)

    # --- baselines ------------------------------------------------------------------------------

    def get_baseline_settings(self) -> BaselineSettings:
        return self.baselines_of.get_settings()

    def update_baseline_settings(
        self, settings: BaselineSettings, context: ActionContext
    ) -> BaselineSettings:
        return self.baselines_of.update_settings(settings, context)

    def get_baseline(self, tenant_id: str) -> BaselineOut:
        return self.baselines_of.get_baseline(tenant_id)

    def list_baselines(
        self, top: int, continuation: str | None, visible: Callable[[str], bool]
    ) -> tuple[list[BaselineOut], str | None]:
        return self.baselines_of.list_baselines(top, continuation, visible)
