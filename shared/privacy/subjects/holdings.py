"""Gathers what is held on one subject, through the subject index and point reads only.

The areas holding subjects read their own rows (`SubjectHolder`); this module reads privacy's
(the restriction flag, the audit events naming the subject) and keeps the rules below.

Rows read are counted (`Holdings.rows_read`): every entity storage returned to us, index entries
included. What grows with a tenant's size is never scanned: users are reached by id or index.
Two reads are not per subject, and are stated: a tenant subject's group memberships read the
tenant's group rows (one partition; groups, not users), and a system user's notification
deliveries read the organisation's notification list (one partition; notifications, not their
deliveries) to point-read each (notification, device) pair.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shared.audit.seal import KeyCache, SubjectKeyStore, open_tree, org_scope, tenant_scope
from shared.errors import ProblemError
from shared.privacy.flags import FLAGS, org_partition, tenant_partition
from shared.privacy.subjects import index

if TYPE_CHECKING:
    from shared.keys import KeyedHasher
    from shared.privacy.subjects import SubjectIdentifier, SubjectScope
    from shared.storage.router import AccountStorage

_POOL = 16


def flag_partition(scope: SubjectScope) -> str:
    if scope.org_id is not None:
        return org_partition(scope.org_id)
    return tenant_partition(scope.partner_id, str(scope.tenant_id))


def seal_scope(scope: SubjectScope) -> str:
    return org_scope(scope.org_id) if scope.org_id is not None else tenant_scope(str(scope.tenant_id))


def not_applicable(detail: str) -> ProblemError:
    return ProblemError(
        422, "subject-identifier-not-applicable", "That identifier does not apply here.", detail
    )


@dataclass
class Holdings:
    """What was found: records per category (export form) and the rows an erasure deletes."""

    subject_key: str | None = None
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # category -> (table, PartitionKey, RowKey) of rows that go on erasure
    rows: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    index_rows: list[tuple[str, str, str]] = field(default_factory=list)
    kid: str | None = None
    event_months: list[str] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)
    flag: dict[str, Any] | None = None
    rows_read: int = 0

    def add(self, category: str, record: dict[str, Any], row: tuple[str, str, str] | None) -> None:
        self.data.setdefault(category, []).append(record)
        if row is not None:
            self.rows.setdefault(category, []).append(row)

    def counts(self) -> dict[str, int]:
        return {category: len(records) for category, records in self.data.items() if records}


class SubjectHolder(Protocol):
    """An area that holds one kind of data subject, answering privacy about them.

    Privacy never reads an area's tables: it asks the area through this interface. Tenants
    implement it for end users (shared/tenants/subjects.py), notifications for an organisation's
    system users (shared/notifications/subjects.py); the composition root (functions/deps.py)
    hands them to `SubjectData`.
    """

    def find(self, gatherer: Gatherer, who: SubjectIdentifier, found: Holdings) -> None:
        """Sets `found.subject_key` and adds the subject's records with the rows erasure deletes,
        their addresses and their subject-index rows; counts every row read in `found.rows_read`."""

    def release(self, account: AccountStorage, scope: SubjectScope, found: Holdings) -> None:
        """Takes the subject out of records that are not theirs alone (erasure; idempotent)."""


class RectifyingHolder(SubjectHolder, Protocol):
    """A holder whose subjects are rectified here (an organisation's users, as it pushed them)."""

    def rectify(
        self,
        account: AccountStorage,
        scope: SubjectScope,
        subject_key: str,
        changes: dict[str, str],
        index_key: KeyedHasher,
    ) -> dict[str, Any]:
        """Writes `changes` to the subject's row and its subject-index entries; returns the row before."""


@dataclass(frozen=True)
class SubjectHolders:
    """Who holds which subjects: a tenant's end users, an organisation's system users."""

    tenant_users: SubjectHolder
    org_users: RectifyingHolder

    def of(self, scope: SubjectScope) -> SubjectHolder:
        return self.tenant_users if scope.tenant_id is not None else self.org_users


class Gatherer:
    """Reads one subject's rows in one region's account: the area's through its holder, then
    privacy's own (the restriction flag, audit events naming the subject)."""

    def __init__(
        self,
        account: AccountStorage,
        keys: SubjectKeyStore,
        scope: SubjectScope,
        index_key: KeyedHasher,
        holder: SubjectHolder,
    ):
        self.account = account
        self.keys = keys
        self.scope = scope
        self.index_key = index_key
        self.holder = holder

    # --- shared -------------------------------------------------------------------------------

    def drop_stale(self, partition: str, row_key: str) -> None:
        """Removes a subject-index entry that no longer matches its row (found while reading)."""
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.account.table(index.TABLE).delete_entity(partition, row_key)

    def gather(self, who: SubjectIdentifier, *, with_events: bool = True) -> Holdings:
        found = Holdings()
        self.holder.find(self, who, found)
        if found.subject_key is not None:
            self._flag(found)
            if with_events:
                self._events(found)
        return found

    def _flag(self, found: Holdings) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        partition = flag_partition(self.scope)
        try:
            row = self.account.table(FLAGS).get_entity(partition, str(found.subject_key))
        except ResourceNotFoundError:
            return
        found.rows_read += 1
        found.flag = dict(row)
        found.add(
            "restriction",
            {"kind": row.get("kind"), "since": row.get("since")},
            (FLAGS, partition, str(found.subject_key)),
        )

    def _events(self, found: Holdings) -> None:
        """Events naming the subject: its key's index rows in each monthly bucket, then point reads."""
        from shared.audit.log import SUBJECT_INDEX, AuditLog, to_api

        located = self.keys.get(self.scope.partner_id, seal_scope(self.scope), str(found.subject_key))
        found.rows_read += self.keys.rows_read
        self.keys.rows_read = 0
        if located is None:
            return
        kid, key = located
        found.kid = kid
        partner = self.scope.partner_id
        log = AuditLog(self.account, _NoClock())
        low, high = f"{SUBJECT_INDEX}{kid}-", f"{SUBJECT_INDEX}{kid}-~"
        events: list[tuple[str, Any]] = []
        for bucket in log.bucket_names():
            table = self.account.table_service().get_table_client(bucket)
            marks = list(
                table.query_entities(
                    "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                    parameters={"pk": partner, "low": low, "high": high},
                    select=["RowKey", "eventRowKey"],
                )
            )
            found.rows_read += len(marks)
            if marks:
                found.event_months.append(bucket)
            for mark in marks:
                found.index_rows.append((bucket, partner, str(mark["RowKey"])))
                events.append((bucket, mark["eventRowKey"]))
        rows = parallel(lambda e: read_row(self.account, e[0], partner, str(e[1])), events)
        cache = KeyCache(self.keys, partner, {kid: key})
        for (bucket, _), row in zip(events, rows, strict=True):
            if row is None:
                continue
            found.rows_read += 1
            item = to_api(row)
            for part in ("target", "changes", "details"):
                item[part] = open_tree(partner, item[part], cache)
            item.pop("hash", None)
            # Kept (crypto-shredded, not deleted): the rows are part of the hash chain.
            found.add("auditEvents", item, None)
            found.rows.setdefault("auditEvents", []).append((bucket, partner, str(row["RowKey"])))


class _NoClock:
    def now(self) -> Any:  # the gatherer never appends
        raise RuntimeError("not used")


def table_of(account: AccountStorage, table: str) -> Any:
    """A table client; monthly event buckets (`events<yyyymm>`) come from the service, not the
    catalogue's fixed names."""
    if table.startswith("events"):
        return account.table_service().get_table_client(table)
    return account.table(table)


def read_row(account: AccountStorage, table: str, partition: str, row_key: str) -> Any:
    """One row, or None when it is not there."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return table_of(account, table).get_entity(partition, row_key)
    except ResourceNotFoundError:
        return None


def parallel(read: Any, items: list[Any]) -> list[Any]:
    """`read` of every item, in order; point reads in parallel (up to 16 at once)."""
    if len(items) <= 1:
        return [read(i) for i in items]
    with ThreadPoolExecutor(min(_POOL, len(items))) as pool:
        return list(pool.map(read, items))


def dumps(package: dict[str, Any]) -> bytes:
    return json.dumps(package, sort_keys=True, ensure_ascii=False, default=str, indent=1).encode()
