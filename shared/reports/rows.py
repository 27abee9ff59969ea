"""Where report and search rows live, laid out so a page across every tenant is one bounded read.

One table, three kinds of partition:

- `{partner}~{kind}`: a report's rows of every tenant of the partner, row key `{tenant}~{item}`.
  A page across all tenants is one range read of `top` rows, whatever the number of tenants; one
  tenant (or a few) is a row-key range inside it. Rows come back grouped by tenant.
- `{partner}~search`: one row per (user, searchable value), row key `{value}~{tenant}~{user}~{field}`
  with the value lower-cased, so a prefix search is one row-key range.
- `{partner}~{tenant}~synced`: per report kind, when the tenant's rows of it were last synced (a
  row's own `syncedAt` is when it last changed: an unchanged row is not written again).
- `{partner}~{tenant}~users`: one row per end user with what the delta-fed rows (search, guests)
  were written from, so a delta change (which may carry only some properties) can be merged and
  the rows it replaces found without reading the tenant; and so erasure finds every search row.

Every row carries `tenantId`, `syncId` and `syncedAt`; every user-derived row also `userId`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from shared.reports.kinds import ReportKind
from shared.storage import tablequery, tables

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.storage.router import AccountStorage

TABLE = "reportrows"
SEARCH = "search"
# Compliance rows of the standards (shared/standards/store.py): row `{tenant}~{standard}`.
STANDARDS = "standards"
TENANT_ITEM = "!tenant"  # the item key of a per-tenant row (e.g. "licence missing"); sorts first
_VALUE_LIMIT = 200  # characters of a searchable value kept in a row key (a key holds 1 KiB)
# Characters a row key may not hold, and our separator: written as %XX, which keeps prefixes prefixes.
_ESCAPED = frozenset("/\\#?%~")


def kind_partition(partner_id: str, kind: str) -> str:
    return f"{partner_id}~{kind}"


def search_partition(partner_id: str) -> str:
    return f"{partner_id}~{SEARCH}"


def users_partition(partner_id: str, tenant_id: str) -> str:
    return f"{partner_id}~{tenant_id.lower()}~users"


def synced_partition(partner_id: str, tenant_id: str) -> str:
    """One row per report kind: when the tenant's rows of that report were last synced."""
    return f"{partner_id}~{tenant_id.lower()}~synced"


def item_key(tenant_id: str, item: str) -> str:
    return f"{tenant_id.lower()}~{item}"


def tenant_range(tenant_id: str) -> tuple[str, str]:
    """Row keys of one tenant inside a report partition: [low, high)."""
    low = f"{tenant_id.lower()}~"
    return low, low[:-1] + chr(ord("~") + 1)


def search_value(text: str) -> str:
    """A searchable value as it sits in a row key: case-folded, forbidden characters escaped."""
    folded = " ".join(text.casefold().split())[:_VALUE_LIMIT]
    return "".join(
        f"%{ord(c):02X}" if c in _ESCAPED or ord(c) < 32 or 127 <= ord(c) < 160 else c for c in folded
    )


def search_key(value: str, tenant_id: str, user_id: str, field: str) -> str:
    return f"{search_value(value)}~{tenant_id.lower()}~{user_id}~{field}"


def searchable(user: Mapping[str, Any]) -> dict[str, str]:
    """field -> value an end user is found by: UPN, mail (when it differs), display name."""
    values: dict[str, str] = {}
    for field in ("userPrincipalName", "mail", "displayName"):
        value = user.get(field)
        if isinstance(value, str) and value.strip():
            if field == "mail" and search_value(value) == search_value(
                str(user.get("userPrincipalName") or "")
            ):
                continue
            values[field] = value
    return values


def search_keys(tenant_id: str, user_id: str, user: Mapping[str, Any]) -> set[str]:
    return {search_key(v, tenant_id, user_id, f) for f, v in searchable(user).items()}


class ReportRows:
    """The report table of one region: writes in entity-group batches, reads by range."""

    def __init__(self, account: AccountStorage):
        self.account = account
        self.rows_read = 0  # entities storage returned: what a bounded read is measured by

    @property
    def table(self) -> TableClient:
        return self.account.table(TABLE)

    # --- writes ---

    def upsert(self, entities: Iterable[dict[str, Any]]) -> int:
        operations = [("replace", e) for e in entities]
        tables.write(self.table, operations)
        return len(operations)

    def delete_keys(self, keys: Iterable[tuple[str, str]]) -> int:
        operations = [("delete", {"PartitionKey": pk, "RowKey": rk}) for pk, rk in keys]
        tables.write_each(self.table, operations, tolerate=(404,))
        return len(operations)

    # --- reads ---

    def get(self, partition_key: str, row_key: str) -> tables.Row | None:
        row = tables.get_json(self.table, partition_key, row_key)
        self.rows_read += row is not None
        return row

    def scan(
        self,
        partition_key: str,
        low: str | None = None,
        high: str | None = None,
        select: list[str] | None = None,
    ) -> Iterator[tables.Row]:
        """Rows of one partition (optionally a row-key range), in key order: for sync-time sweeps."""
        text = tables.partition(partition_key)
        if low is not None:
            text += f" and RowKey ge {tables.literal(low)}"
        if high is not None:
            text += f" and RowKey lt {tables.literal(high)}"
        for row in tables.query_json(self.table, text, select):
            self.rows_read += 1
            yield row

    def page(
        self,
        partition_key: str,
        top: int,
        position: Mapping[str, Any] | None,
        *,
        low: str | None = None,
        high: str | None = None,
        status: str | None = None,
    ) -> tuple[list[tables.Row], dict[str, Any] | None]:
        """At most `top` rows of a partition (a row-key range of it), and the table's continuation."""
        text = tables.partition(partition_key)
        if low is not None:
            text += f" and RowKey ge {tables.literal(low)}"
        if high is not None:
            text += f" and RowKey lt {tables.literal(high)}"
        if status is not None:
            text += f" and {tables.eq('status', status)}"
        # Plain JSON (shared.storage.tablequery): the SDK's typed entities cost more CPU than the read.
        found, after = tablequery.page(self.table, text, top, dict(position) if position else None)
        rows = [tables.Row.of(r) for r in found]
        self.rows_read += len(rows)
        return rows, after

    def list_subject_rows(
        self, partner_id: str, tenant_id: str, user_id: str, kinds: Iterable[str]
    ) -> list[tables.Row]:
        """Every row about one end user: their users row and the search rows it lists, their rows of
        the per-user reports (point reads) and of role holders (the tenant's few role rows)."""
        found: list[tables.Row] = []
        own = self.get(users_partition(partner_id, tenant_id), user_id)
        if own is not None:
            found.append(own)
            search = search_partition(partner_id)
            for key in json.loads(own.get("searchKeys") or "[]"):
                row = self.get(search, key)
                if row is not None:
                    found.append(row)
        for kind in kinds:
            partition = kind_partition(partner_id, kind)
            if kind == ReportKind.PRIVILEGED_ROLES:  # item `{user}~{role}`: the holder's roles are one range
                low = item_key(tenant_id, f"{user_id}~")
                found += list(self.scan(partition, low, low[:-1] + chr(ord("~") + 1)))
                continue
            row = self.get(partition, item_key(tenant_id, user_id))
            if row is not None:
                found.append(row)
        return found

    def purge_tenant(self, partner_id: str, tenant_id: str, kinds: Iterable[str] = tuple(ReportKind)) -> int:
        """Deletes a tenant's rows of every report, its search rows (found through its users' rows)
        and its users' rows: the tenant was removed."""
        keys: list[tuple[str, str]] = []
        low, high = tenant_range(tenant_id)
        for kind in kinds:
            partition = kind_partition(partner_id, kind)
            keys += [(partition, str(r["RowKey"])) for r in self.scan(partition, low, high, ["RowKey"])]
        synced = synced_partition(partner_id, tenant_id)
        keys += [(synced, str(r["RowKey"])) for r in self.scan(synced, select=["RowKey"])]
        users = users_partition(partner_id, tenant_id)
        search = search_partition(partner_id)
        for row in self.scan(users, select=["RowKey", "searchKeys"]):
            keys += [(search, k) for k in json.loads(row.get("searchKeys") or "[]")]
            keys.append((users, str(row["RowKey"])))
        return self.delete_keys(keys)
