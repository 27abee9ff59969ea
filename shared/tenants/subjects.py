"""A tenant's end users as data subjects: what privacy asks of the tenant's directory copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.errors import ProblemError
from shared.privacy.subjects import index
from shared.privacy.subjects.holdings import not_applicable, read_row
from shared.reports.kinds import ReportKind
from shared.reports.rows import TABLE as REPORTS_TABLE
from shared.reports.rows import ReportRows
from shared.tenants.baselines import baseline_naming, erase_from_baseline
from shared.tenants.lifecycle_models import LIFECYCLE
from shared.tenants.offboarding import forget_colleague, offboarding_out, operations_naming, user_pointer
from shared.tenants.snapshots import erase_from_snapshots, snapshots_naming
from shared.tenants.store import (
    GROUPS,
    USERS,
    group_members,
    group_partition,
    remove_member,
    user_from_entity,
    user_partition,
)

if TYPE_CHECKING:
    from shared.privacy.subjects import SubjectIdentifier, SubjectScope
    from shared.privacy.subjects.holdings import Gatherer, Holdings
    from shared.storage.router import AccountStorage

MEMBERSHIPS = "tenantGroupMemberships"
SNAPSHOT_MENTIONS = "tenantConfigurationSnapshots"
BASELINE_MENTIONS = "tenantBaselineMentions"  # check results naming the end user (tenantbaselines)
REPORT_ROWS = "reportRows"
OFFBOARDINGS = "offboardingOperations"  # operations offboarding the subject (tenantlifecycle)
HANDOVERS = "offboardingHandovers"  # operations handing a leaver's OneDrive to the subject


class TenantSubjects:
    """The `SubjectHolder` of tenants' end users (shared/privacy/subjects/holdings.py).

    Users are reached by object id, or by address through the subject index; group memberships
    read the tenant's group rows (one partition; groups, not users), as that module states.
    """

    def find(self, gatherer: Gatherer, who: SubjectIdentifier, found: Holdings) -> None:
        account, scope = gatherer.account, gatherer.scope
        partner, tenant = scope.partner_id, str(scope.tenant_id).lower()
        if who.system_user_id or who.phone:
            raise not_applicable("A tenant's end users are identified by email/UPN or Entra object id.")
        if who.object_id:
            found.subject_key = who.object_id.lower()
            row = read_row(
                account, USERS, user_partition(partner, tenant, found.subject_key), found.subject_key
            )
            found.rows_read += row is not None
        else:
            candidates = self._by_address(gatherer, str(index.address_of(who.email)), found)
            if len(candidates) > 1:
                raise ProblemError(
                    409,
                    "ambiguous-subject",
                    "More than one end user has that address.",
                    "Identify the subject by its Entra object id instead.",
                )
            found.subject_key, row = next(iter(candidates.items()), (None, None))
        if found.subject_key is None:
            return
        key = found.subject_key
        if row is not None:  # counted where it was read
            found.add("tenantUser", user_from_entity(row), (USERS, str(row["PartitionKey"]), key))
            found.addresses = index.tenant_user_addresses(row)
            entries = index.tenant_entries(
                gatherer.index_key, partner, tenant, key, found.addresses, every_form=True
            )
            for entry in entries:
                found.index_rows.append((index.TABLE, entry["PartitionKey"], entry["RowKey"]))
        self._report_rows(account, partner, tenant, key, found)
        self._offboardings(account, partner, tenant, key, found)
        # Configuration snapshots name role holders and policy members by object id: no row is
        # theirs alone, so erasure takes the subject out of them (`release`).
        for mention in snapshots_naming(account, partner, tenant, {key, *found.addresses}):
            found.add(SNAPSHOT_MENTIONS, mention, None)
        # So do the stored baseline results (a sample of disabled accounts holding licences).
        mentions = baseline_naming(account, partner, tenant, {key, *found.addresses})
        found.rows_read += 1
        if mentions:
            found.add(BASELINE_MENTIONS, {"tenantId": tenant, "mentions": mentions}, None)
        select = ["RowKey", "displayName"] + [f"m{n:02d}" for n in range(14)]
        groups = list(
            account.table(GROUPS).query_entities(
                "PartitionKey eq @pk", parameters={"pk": group_partition(partner, tenant)}, select=select
            )
        )
        found.rows_read += len(groups)
        for group in groups:
            if key in group_members(group):
                # No row to delete: the group is the group's, the subject only leaves it (`release`).
                found.add(
                    MEMBERSHIPS, {"groupId": group["RowKey"], "displayName": group.get("displayName")}, None
                )

    @staticmethod
    def _report_rows(account: AccountStorage, partner: str, tenant: str, key: str, found: Holdings) -> None:
        """Their rows in reports and the end-user search (shared/reports), reached by object id."""
        reports = ReportRows(account)
        for row in reports.list_subject_rows(partner, tenant, key, list(ReportKind)):
            record = {k: v for k, v in row.items() if k not in ("PartitionKey", "RowKey", "searchKeys")}
            found.add(REPORT_ROWS, record, (REPORTS_TABLE, str(row["PartitionKey"]), str(row["RowKey"])))
        found.rows_read += reports.rows_read

    @staticmethod
    def _offboardings(account: AccountStorage, partner: str, tenant: str, key: str, found: Holdings) -> None:
        """Their offboarding operations (the row names them, its instructions their UPN, its
        automatic reply may quote them): deleted on erasure with the pointer to the latest one. An
        operation handing someone's OneDrive to them is the leaver's: only their name leaves it."""
        leaver, colleague = operations_naming(account, partner, tenant, key)
        found.rows_read += len(leaver) + len(colleague)
        for row in leaver:
            record = offboarding_out(row).model_dump(mode="json", by_alias=True)
            found.add(OFFBOARDINGS, record, (LIFECYCLE, str(row["PartitionKey"]), str(row["RowKey"])))
        if leaver:
            found.rows.setdefault(OFFBOARDINGS, []).append(user_pointer(partner, tenant, key))
        for row in colleague:
            operation_id = str(row["RowKey"]).removeprefix("op~")
            found.add(HANDOVERS, {"operationId": operation_id, "createdAt": row.get("createdAt")}, None)

    @staticmethod
    def _by_address(gatherer: Gatherer, address: str, found: Holdings) -> dict[str, Any]:
        account, scope = gatherer.account, gatherer.scope
        partner, tenant = scope.partner_id, str(scope.tenant_id).lower()
        entries = index.value_entries(
            account, gatherer.index_key, address, lambda form: index.tenant_partition(partner, tenant, form)
        )
        found.rows_read += len(entries)
        candidates: dict[str, Any] = {}
        for partition, entry in entries:
            user_id = str(entry["subject"])
            row = read_row(account, USERS, user_partition(partner, tenant, user_id), user_id)
            if row is not None:
                found.rows_read += 1
            if row is None or address not in index.tenant_user_addresses(row):
                gatherer.drop_stale(partition, str(entry["RowKey"]))
            else:
                candidates[user_id] = row
        return candidates

    @staticmethod
    def indexed_by(account: AccountStorage, partner: str, tenant: str, user_id: str) -> set[str] | None:
        """The addresses a stored end user is found by now, or None when there is no row (the
        subject index's background re-keying, shared/privacy/subjects/reindex.py)."""
        key = user_id.lower()
        row = read_row(account, USERS, user_partition(partner, tenant.lower(), key), key)
        return None if row is None else index.tenant_user_addresses(row)

    def release(self, account: AccountStorage, scope: SubjectScope, found: Holdings) -> None:
        if found.subject_key is None:
            return
        tenant = str(scope.tenant_id).lower()
        for membership in found.data.get(MEMBERSHIPS, []):
            remove_member(account, scope.partner_id, tenant, str(membership["groupId"]), found.subject_key)
        erase_from_snapshots(account, scope.partner_id, tenant, {found.subject_key, *found.addresses})
        erase_from_baseline(account, scope.partner_id, tenant, {found.subject_key, *found.addresses})
        handovers = [str(record["operationId"]) for record in found.data.get(HANDOVERS, [])]
        forget_colleague(account, scope.partner_id, tenant, handovers)
