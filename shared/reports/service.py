"""Reading reports and searching end users across the caller's tenants, a bounded read per page.

A caller that reaches every tenant reads a report's partition in key order: one range read of
`top` rows per page, whatever the number of tenants. A caller limited to some tenants (or a
tenant/tenant-group filter) reads the row-key range of each of its tenants in turn, at most
`TENANTS_PER_PAGE` of them per page, so a page costs at most `top` rows and a fixed number of
requests. The continuation token holds the tenant and the table's own continuation within it.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.errors import FieldError, bad_request, not_found, validation_failed
from shared.reports import rows as keys
from shared.reports.kinds import KINDS, ReportKind
from shared.reports.models import (
    ReportPage,
    ReportQuery,
    ReportRowOut,
    TenantReportQuery,
    UserSearchHit,
    UserSearchPage,
    UserSearchQuery,
)
from shared.reports.rows import ReportRows
from shared.storage.tables import decode_token, encode_token

if TYPE_CHECKING:
    from shared.access.reach import TenantReach
    from shared.storage.router import AccountStorage

TENANTS_PER_PAGE = 50
SEARCH_SCAN_BUDGET = 2000  # rows a scoped caller's search looks at per page before it answers
_COMMON = (
    "tenantId",
    "item",
    "status",
    "syncedAt",
    "tenantSyncedAt",
    "userId",
    "userPrincipalName",
    "displayName",
)
_NOT_DETAILS = frozenset(
    {
        "PartitionKey",
        "RowKey",
        "Timestamp",
        "syncId",
        "tenantId",
        "item",
        "status",
        "syncedAt",
        "userId",
        "userPrincipalName",
        "displayName",
    }
)


def row_out(kind: ReportKind, row: Mapping[str, Any], tenant_synced_at: str | None = None) -> ReportRowOut:
    details: dict[str, Any] = {}
    for name, value in row.items():
        if name in _NOT_DETAILS or name.startswith("odata.") or name.endswith("@odata.type"):
            continue
        details[name] = _decoded(value)
    return ReportRowOut(
        kind=kind.value,
        tenant_id=str(row.get("tenantId", "")),
        item=str(row.get("item", "")),
        status=str(row.get("status", "")),
        synced_at=str(row.get("syncedAt", "")),
        tenant_synced_at=tenant_synced_at,
        user_id=row.get("userId"),
        user_principal_name=row.get("userPrincipalName"),
        display_name=row.get("displayName"),
        details=details,
    )


class ReportService:
    """One partner's reports and end-user search, in its region's account."""

    def __init__(
        self,
        account: AccountStorage,
        partner_id: str,
        *,
        check_tenant: Callable[[str], object] = lambda t: None,
    ):
        self.rows = ReportRows(account)
        self.partner_id = partner_id
        # Raises (404) for a tenant the partner does not have: wired by the composition root.
        self.check_tenant = check_tenant

    # --- reports ---

    def list_rows(
        self,
        kind: ReportKind,
        query: ReportQuery | TenantReportQuery,
        reach: TenantReach,
        group_members: Callable[[], Mapping[str, frozenset[str]]],
        *,
        tenant_id: str | None = None,
    ) -> ReportPage:
        """A page of a report: one tenant (`tenant_id`), or the caller's tenants, filtered."""
        self.rows.rows_read = 0
        if query.status is not None and query.status not in KINDS[kind].statuses:
            # A status of another report: no row of this one has it (one schema serves every kind).
            return ReportPage(items=[], continuation_token=None, rows_read=0)
        tenants = self._tenants(query, reach, group_members, tenant_id)
        partition = keys.kind_partition(self.partner_id, kind)
        # One list whichever route reads it: a tenant's own report and the cross-tenant one
        # filtered to that tenant share their tokens (the CSV export continues across them).
        tenant = str(tenant_id or getattr(query, "tenant_id", None) or "").lower()
        scope = f"report\n{partition}\n{query.status}\n{tenant}\n{getattr(query, 'tenant_group', None)}"
        position = decode_token(query.continuation_token, scope=scope) or {}
        if tenants is None:
            found, after = self.rows.page(partition, query.top, _continuation(position), status=query.status)
            token = encode_token({"c": after}, scope=scope) if after else None
        else:
            found, next_position = self._page_tenants(partition, tenants, query.top, position, query.status)
            token = encode_token(next_position, scope=scope) if next_position else None
        synced = self._synced_at(kind, {str(r.get("tenantId", "")) for r in found})
        items = [row_out(kind, r, synced.get(str(r.get("tenantId", "")))) for r in found]
        return ReportPage(items=items, continuation_token=token, rows_read=self.rows.rows_read)

    def _synced_at(self, kind: ReportKind, tenants: set[str]) -> dict[str, str]:
        """When each tenant's rows of the report were last synced (one point read per tenant on the page)."""
        ordered = sorted(tenants)

        def read(tenant: str) -> Any:
            return self.rows.get(keys.synced_partition(self.partner_id, tenant), kind.value)

        if len(ordered) > 1:  # in parallel: a page's latency is one round trip, however many tenants
            with ThreadPoolExecutor(min(len(ordered), 8)) as pool:
                rows = list(pool.map(read, ordered))
        else:
            rows = [read(t) for t in ordered]
        return {t: str(r.get("syncedAt", "")) for t, r in zip(ordered, rows, strict=True) if r is not None}

    def export_csv(
        self,
        kind: ReportKind,
        query: ReportQuery | TenantReportQuery,
        reach: TenantReach,
        group_members: Callable[[], Mapping[str, frozenset[str]]],
        *,
        tenant_id: str | None = None,
    ) -> tuple[str, str | None]:
        """The same page as CSV (common columns, then the report's own), and the next page's token."""
        page = self.list_rows(kind, query, reach, group_members, tenant_id=tenant_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        columns = KINDS[kind].details
        writer.writerow([*_COMMON, *columns])
        for item in page.items:
            wire = item.model_dump(by_alias=True)
            writer.writerow(
                [_cell(wire.get(c)) for c in _COMMON] + [_cell(item.details.get(c)) for c in columns]
            )
        return out.getvalue(), page.continuation_token

    def list_tenant_rows(
        self, kind: ReportKind, query: TenantReportQuery, reach: TenantReach, *, tenant_id: str
    ) -> ReportPage:
        """A page of one tenant's report (404 for a tenant the partner does not have)."""
        self.check_tenant(tenant_id)
        return self.list_rows(kind, query, reach, dict, tenant_id=tenant_id)

    def export_tenant_csv(
        self, kind: ReportKind, query: TenantReportQuery, reach: TenantReach, *, tenant_id: str
    ) -> tuple[str, str | None]:
        self.check_tenant(tenant_id)
        return self.export_csv(kind, query, reach, dict, tenant_id=tenant_id)

    def _tenants(
        self,
        query: ReportQuery | TenantReportQuery,
        reach: TenantReach,
        group_members: Callable[[], Mapping[str, frozenset[str]]],
        tenant_id: str | None,
    ) -> list[str] | None:
        """The tenants to read, sorted; None for every tenant of the partner."""
        if tenant_id is None and isinstance(query, ReportQuery):
            tenant_id = query.tenant_id
        if tenant_id is not None:
            if not reach.allows(tenant_id):
                raise not_found("No such tenant.")
            chosen: set[str] | None = {tenant_id.lower()}
        else:
            chosen = None if reach.unlimited else set(reach.tenant_ids or ())
        group = query.tenant_group if isinstance(query, ReportQuery) else None
        if group is not None:
            members = group_members().get(group) if reach.unlimited else reach.group_view(group)
            if members is None:
                raise not_found("No such tenant group.")
            lowered = {t.lower() for t in members}
            chosen = lowered if chosen is None else chosen & lowered
        return None if chosen is None else sorted(chosen)

    def _page_tenants(
        self, partition: str, tenants: list[str], top: int, position: Mapping[str, Any], status: str | None
    ) -> tuple[list[Any], dict[str, Any] | None]:
        start = position.get("t")
        index = bisect.bisect_left(tenants, start) if isinstance(start, str) else 0
        continuation = _continuation(position)
        found: list[Any] = []
        visited = 0
        while index < len(tenants) and len(found) < top and visited < TENANTS_PER_PAGE:
            tenant = tenants[index]
            low, high = keys.tenant_range(tenant)
            rows, after = self.rows.page(
                partition, top - len(found), continuation, low=low, high=high, status=status
            )
            found += rows
            visited += 1
            if after:
                return found, {"t": tenant, "c": after}
            index, continuation = index + 1, None
        return found, ({"t": tenants[index], "c": None} if index < len(tenants) else None)

    # --- search ---

    def search_users(self, query: UserSearchQuery, reach: TenantReach) -> UserSearchPage:
        """End users whose UPN, e-mail or display name starts with the prefix, in the caller's tenants."""
        self.rows.rows_read = 0
        value = keys.search_value(query.prefix)
        if not value:
            raise validation_failed(
                [FieldError("prefix", "Give at least one character that is not a space.")]
            )
        partition = keys.search_partition(self.partner_id)
        scope = f"search\n{partition}\n{value}"
        position = decode_token(query.continuation_token, scope=scope) or {}
        after = position.get("k")
        low = value if not isinstance(after, str) else after + "\x00"
        high = value[:-1] + chr(ord(value[-1]) + 1)
        hits: list[UserSearchHit] = []
        seen: set[tuple[str, str]] = set()
        last: str | None = None
        scanned = 0
        batch = query.top if reach.unlimited else max(query.top, 200)
        more = True
        while more and len(hits) < query.top and scanned < SEARCH_SCAN_BUDGET:
            rows, table_after = self.rows.page(partition, batch, None, low=low, high=high)
            more = table_after is not None
            for row in rows:
                if len(hits) == query.top:
                    more = True
                    break
                scanned += 1
                last = str(row["RowKey"])
                tenant, user = str(row.get("tenantId", "")), str(row.get("userId", ""))
                if not reach.allows(tenant) or (tenant, user) in seen:
                    continue
                seen.add((tenant, user))
                hits.append(
                    UserSearchHit(
                        tenant_id=tenant,
                        user_id=user,
                        display_name=row.get("displayName"),
                        user_principal_name=row.get("userPrincipalName"),
                        mail=row.get("mail"),
                        user_type=row.get("userType"),
                        account_enabled=row.get("accountEnabled"),
                        matched=row.get("field", "userPrincipalName"),
                        synced_at=str(row.get("syncedAt", "")),
                    )
                )
            else:
                if rows:
                    low = str(rows[-1]["RowKey"]) + "\x00"
                continue
            break
        token = encode_token({"k": last}, scope=scope) if more and last is not None else None
        return UserSearchPage(items=hits, continuation_token=token, rows_read=self.rows.rows_read)


def _decoded(value: Any) -> Any:
    """A column holding JSON (lists and objects are stored as text) as its value."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _continuation(position: Mapping[str, Any]) -> dict[str, Any] | None:
    """The table's own continuation inside our token: only the keys the table gives, as text."""
    value = position.get("c")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not value
        or not all(k in ("PartitionKey", "RowKey") and isinstance(v, str | None) for k, v in value.items())
    ):
        raise bad_request("continuationToken is not one we issued.")
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    text = str(value).lower() if isinstance(value, bool) else str(value)
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
