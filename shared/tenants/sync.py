"""The sync of one tenant: delta users and groups into tables, a configuration snapshot, drift, baseline.

Crash safety: nothing a run writes is a checkpoint except at the very end, where the new
deltaLinks are stored. A run killed half-way is retried from the previous deltaLinks (or in full):
re-applying a delta round is idempotent (upsert by id, delete by id), and a full round tags each
user it sees with the sync id and finally deletes every stored user without it, so after any
successful attempt the stored users equal the tenant's users exactly.

Report and search rows (shared/reports/sync.py) ride along: per users page as the changes arrive,
then the whole-tenant reports after the configuration; a report Graph refuses (no Entra ID P1, a
permission not consented) is a row saying so, never a failed sync. Re-applying them is idempotent too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shared.access.principals import SYSTEM
from shared.adapters.graph import (
    GraphForbiddenError,
    GraphGroup,
    GraphNotFoundError,
    GraphReader,
    GraphUser,
    TenantConfiguration,
)
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.audit.seal import EventSubject, tenant_scope
from shared.clock import Clock, isoformat
from shared.privacy.subjects.index import tenant_user_addresses
from shared.reports.sync import ReportSync, read_or_refused
from shared.tenants import drift
from shared.tenants.baseline import BaselineInput, UserFacts
from shared.tenants.models import BaselineSettings, SyncCounts
from shared.tenants.snapshots import SNAPSHOTS, mark_referenced, metadata_for, without_erased_subjects
from shared.tenants.store import DirectoryStore, group_fields, group_members

if TYPE_CHECKING:
    from shared.keys import KeyedHasher
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.tenants.sync")


class TenantGoneError(Exception):
    """The tenant was removed (or is being removed) while it synced."""


def snapshot_blob(partner_id: str, tenant_id: str, sync_id: str) -> str:
    return f"{partner_id}/{tenant_id}/{sync_id}.json"


@dataclass
class SyncInput:
    partner_id: str
    tenant_id: str
    sync_id: str
    users_delta_link: str | None
    groups_delta_link: str | None
    previous_snapshot: str | None  # blob name of the last stored snapshot
    baseline_settings: BaselineSettings = field(default_factory=BaselineSettings)
    attempt: int = 1

    @property
    def marker(self) -> str:
        """What a full round tags each user it sees with. Per attempt: a user an earlier, killed
        attempt tagged may have left the tenant since, and must not pass as seen."""
        return f"{self.sync_id}.{self.attempt}"


@dataclass
class SyncResult:
    counts: SyncCounts
    full: bool
    users_delta_link: str | None
    groups_delta_link: str | None
    snapshot: str
    # What the baseline check reads (the runner checks it once the sync has succeeded).
    baseline: BaselineInput


class SyncEngine:
    """Runs one tenant's sync against Graph (a `GraphReader`) and the region's storage."""

    def __init__(
        self,
        account: AccountStorage,
        clock: Clock,
        *,
        workers: int = 8,
        still_there: Callable[[], bool] = lambda: True,
        on_page: Callable[[int], None] | None = None,
        index_key: KeyedHasher,
    ):
        self.account = account
        self.index_key = index_key
        self.clock = clock
        self.workers = workers
        self.still_there = still_there
        # Called after each users page is stored; raising from it is how a test kills a run mid-way.
        self.on_page = on_page

    def run(self, job: SyncInput, reader: GraphReader) -> SyncResult:
        counts = SyncCounts()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="tenant-sync") as pool:
            store = DirectoryStore(self.account, job.partner_id, job.tenant_id, pool, self.index_key)
            reports = ReportSync(
                self.account,
                job.partner_id,
                job.tenant_id,
                sync_id=job.marker,
                now=self.clock.now(),
                pool=pool,
                erased=store.is_erased,
            )
            full, users_link = self._users(job, reader, store, counts, reports)
            groups_full, groups_link = self._groups(job, reader, store, counts)
            configuration = reader.configuration()
            config = configuration.model_dump(mode="json", by_alias=True, exclude={"tenant_id"})
            config = without_erased_subjects(config, store.is_erased)
            snapshot = self._snapshot(job, config, counts)
            facts = self._reports(reader, reports, configuration, self._user_facts(store))
            counts.storage_writes = store.writes.entities + reports.writes
        read = BaselineInput(config, facts, job.baseline_settings)
        return SyncResult(counts, full or groups_full, users_link, groups_link, snapshot, read)

    def _check(self) -> None:
        if not self.still_there():
            raise TenantGoneError("the tenant was removed during its sync")

    # --- users ---

    def _users(
        self,
        job: SyncInput,
        reader: GraphReader,
        store: DirectoryStore,
        counts: SyncCounts,
        reports: ReportSync,
    ) -> tuple[bool, str | None]:
        full = job.users_delta_link is None
        seen: set[str] = set()
        link: str | None = None
        pending = None
        for page in reader.users_delta(job.users_delta_link, resync_on_expiry=True):
            self._check()
            full = full or page.full_sync
            if pending is not None:
                pending.result()
            counts.pages += 1
            if page.full_sync:
                seen.update(u.id for u in page.items)
                # Storing overlaps with fetching the next page: Graph and storage wait on each other less.
                pending = store.pool.submit(self._store_full_page, store, reports, page.items, job.marker)
            else:
                self._apply_user_changes(store, page.items, page.removed, job.marker, counts)
                reports.users_changed(store.without_erased(page.items), page.removed)
            counts.users_upserted += len(page.items)
            if self.on_page is not None:
                if pending is not None:
                    pending.result()
                    pending = None
                self.on_page(counts.pages)
            link = page.delta_link or link
        if pending is not None:
            pending.result()
        reports.users_done(full=full)
        if full:
            indexed: dict[str, set[str]] = {}
            gone = list(store.list_user_ids_not_seen(job.marker, indexed))
            store.unindex(indexed)
            store.delete_users(gone)
            counts.users_removed += len(gone)
            counts.users = len(seen)
        return full, link

    @staticmethod
    def _store_full_page(
        store: DirectoryStore, reports: ReportSync, users: list[GraphUser], marker: str
    ) -> None:
        store.upsert_users(users, marker, full=True)
        reports.users_full(store.without_erased(users))

    def _apply_user_changes(
        self,
        store: DirectoryStore,
        items: list[GraphUser],
        removed: list[str],
        sync_id: str,
        counts: SyncCounts,
    ) -> None:
        ids = [u.id for u in items] + removed
        before = store.get_addresses(ids)  # one point read each, as before; now with the old addresses
        stored = set(before)
        new = sum(1 for u in items if u.id not in stored)
        # Subject index: entries of users that left, and of addresses a changed user no longer has.
        stale = {u: tenant_user_addresses(before[u]) for u in removed if u in before}
        for user in items:
            if user.id in before:
                old = before[user.id]
                after = {
                    wire: getattr(user, name) if name in user.model_fields_set else old.get(wire)
                    for name, wire in (("user_principal_name", "userPrincipalName"), ("mail", "mail"))
                }
                stale[user.id] = tenant_user_addresses(old) - tenant_user_addresses(after)
        store.unindex(stale)
        store.upsert_users(items, sync_id, full=False)
        gone = [u for u in removed if u in stored]
        store.delete_users(gone)
        counts.users_removed += len(gone)
        counts.users += new - len(gone)  # a change in the stored count; the caller adds the old count

    # --- groups ---

    def _groups(
        self, job: SyncInput, reader: GraphReader, store: DirectoryStore, counts: SyncCounts
    ) -> tuple[bool, str | None]:
        full = job.groups_delta_link is None
        groups: dict[str, GraphGroup] = {}
        added: dict[str, set[str]] = {}
        dropped: dict[str, set[str]] = {}
        removed: set[str] = set()
        link: str | None = None
        for page in reader.groups_delta(job.groups_delta_link, resync_on_expiry=True):
            self._check()
            if page.full_sync and not full:
                # The token expired mid-way: start over from the full round's view.
                groups, added, dropped, removed = {}, {}, {}, set()
            full = full or page.full_sync
            for group in page.items:
                if group.id in groups:
                    merged = groups[group.id].model_copy(
                        update={k: getattr(group, k) for k in group.model_fields_set}
                    )
                    groups[group.id] = merged
                else:
                    groups[group.id] = group
                added.setdefault(group.id, set()).update(group.members_added)
                added[group.id].difference_update(group.members_removed)
                dropped.setdefault(group.id, set()).update(group.members_removed)
            removed.update(page.removed)
            link = page.delta_link or link
        entities = []
        if full:
            for group_id, group in groups.items():
                entities.append(store.group_entity(group_fields(group), added.get(group_id, set())))
            store.upsert_groups(entities)
            gone = {str(r["RowKey"]) for r in store.list_group_rows(select=["RowKey"])} - set(groups)
            counts.groups = len(groups)
        else:
            for group_id, group in groups.items():
                current = store.get_group(group_id)
                members = group_members(current) if current is not None else set()
                members = (members - dropped.get(group_id, set())) | added.get(group_id, set())
                entities.append(store.group_entity(group_fields(group, current), members))
            store.upsert_groups(entities)
            gone = {g for g in removed if store.get_group(g) is not None}
        store.delete_groups(gone)
        counts.groups_upserted = len(entities)
        counts.groups_removed = len(gone)
        return full, link

    # --- configuration ---

    def _snapshot(self, job: SyncInput, config: dict[str, Any], counts: SyncCounts) -> str:
        """Stores this run's snapshot and records one drift event per setting changed since the last."""
        container = self.account.container(SNAPSHOTS)
        name = snapshot_blob(job.partner_id, job.tenant_id, job.sync_id)
        taken_at = isoformat(self.clock.now())
        document = {"syncId": job.sync_id, "takenAt": taken_at, "configuration": config}
        container.upload_blob(
            name, json.dumps(document).encode(), overwrite=True, metadata=metadata_for(taken_at, drift=False)
        )
        if job.previous_snapshot is None or job.previous_snapshot == name:
            return name
        from azure.core.exceptions import ResourceNotFoundError

        try:
            previous = json.loads(container.download_blob(job.previous_snapshot).readall())["configuration"]
        except ResourceNotFoundError:
            return name
        findings = drift.compare(previous, config)
        if findings:
            # Both sides of the comparison stay as long as the drift events (tenants/snapshots.py).
            mark_referenced(container, job.previous_snapshot)
            mark_referenced(container, name)
        audit = AuditLog(self.account, self.clock)
        context = ActionContext(SYSTEM)
        for finding in findings:
            context.record(
                audit,
                job.partner_id,
                finding.action,
                {"type": "tenant", "id": job.tenant_id},
                changes={finding.setting: {"before": finding.before, "after": finding.after}},
                details={"summary": finding.summary, "syncId": job.sync_id},
                # A role holder's id is theirs: sealed, so that erasing them shreds it here too.
                subject=EventSubject(tenant_scope(job.tenant_id), finding.subject, ("changes",))
                if finding.subject
                else None,
            )
        counts.drift_events = len(findings)
        return name

    def _user_facts(self, store: DirectoryStore) -> tuple[UserFacts, dict[str, int]]:
        """Disabled accounts holding licences, and how many of each SKU they hold."""
        # Storage filters the disabled accounts, so this reads only those, not the whole tenant.
        holders: list[str] = []
        by_sku: dict[str, int] = {}
        for row in store.list_user_rows(
            " and accountEnabled eq false", select=["RowKey", "assignedLicenses"]
        ):
            licences = json.loads(row.get("assignedLicenses") or "[]")
            if licences:
                holders.append(str(row["RowKey"]))
            for licence in licences:
                sku = str(licence.get("skuId", "")).lower()
                by_sku[sku] = by_sku.get(sku, 0) + 1
        return UserFacts(len(holders), holders[:20]), by_sku

    @staticmethod
    def _reports(
        reader: GraphReader,
        reports: ReportSync,
        configuration: TenantConfiguration,
        facts: tuple[UserFacts, dict[str, int]],
    ) -> UserFacts:
        """The whole-tenant reports (shared/reports): a read Graph refuses is recorded per tenant,
        never a failed sync. Answers the baseline's facts with the inactive accounts counted."""
        refusals = (GraphForbiddenError, GraphNotFoundError)
        user_facts, disabled_by_sku = facts
        reports.configuration(configuration, disabled_by_sku)
        reports.registration(read_or_refused(reader.list_registration_details, refusals))
        inactive = reports.sign_ins(read_or_refused(reader.list_sign_in_activity, refusals))
        reports.secure_scores(read_or_refused(reader.list_secure_scores, refusals))
        return replace(user_facts, inactive_accounts=inactive)


def elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
