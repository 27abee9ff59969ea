"""Where standards live: partners' templates (every version) beside the baseline settings, and
compliance rows in the report table, laid out for the cross-tenant read (shared/reports/rows.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.reports.rows import STANDARDS, item_key, kind_partition, tenant_range
from shared.reports.rows import TABLE as REPORT_TABLE
from shared.storage import tablequery, tables
from shared.tenants.records import BASELINES

if TYPE_CHECKING:
    from shared.standards.models import SettingResult
    from shared.storage.router import AccountStorage

# Rows of `tenantbaselines` under the partner's partition with keys from `~`: the partner's own
# records there, which the baseline listing skips and the partner-records retention rule ends.
_HEAD = "~standard~"
# The report-table partition kind: `{partner}~standards`, row `{tenant}~{standard}`; a removed
# tenant's rows go with its report rows (shared/tenants/records.py purge_tenant_data).
COMPLIANCE = STANDARDS


def head_key(standard_id: str) -> str:
    return f"{_HEAD}{standard_id}"


def version_key(standard_id: str, version: int) -> str:
    return f"{_HEAD}{standard_id}~v{version:06d}"


class StandardStore:
    """One partner's templates (head row: the current version; one row per version) and compliance rows."""

    def __init__(self, account: AccountStorage, partner_id: str):
        self.account = account
        self.partner_id = partner_id

    @property
    def _templates(self) -> Any:
        return self.account.table(BASELINES)

    @property
    def _reports(self) -> Any:
        return self.account.table(REPORT_TABLE)

    # --- templates ---

    def get(self, standard_id: str) -> tables.Row | None:
        row = tables.get(self._templates, self.partner_id, head_key(standard_id))
        return None if row is None or row.get("deleted") else row

    def get_version(self, standard_id: str, version: int) -> tables.Row | None:
        """A pinned version; kept after the standard is deleted (runs and compliance name it)."""
        return tables.get(self._templates, self.partner_id, version_key(standard_id, version))

    def list_all(self) -> list[tables.Row]:
        text = f"{tables.partition(self.partner_id)} and RowKey ge '{_HEAD}' and RowKey lt '~standare'"
        return [
            r
            for r in tables.query(self._templates, text)
            if r["RowKey"].count("~") == 2 and not r.get("deleted")  # head rows, not versions
        ]

    def create_or_update(self, standard_id: str, fields: dict[str, Any]) -> None:
        """Writes the version row first: a crash between the two leaves the head at the last version."""
        version = int(fields["version"])
        self._templates.upsert_entity(
            {"PartitionKey": self.partner_id, "RowKey": version_key(standard_id, version), **fields}
        )
        self._templates.upsert_entity(
            {"PartitionKey": self.partner_id, "RowKey": head_key(standard_id), **fields}
        )

    def delete(self, standard_id: str, fields: dict[str, Any]) -> None:
        # Kept as a tombstone with its versions: runs and compliance rows still name them.
        self._templates.upsert_entity(
            {"PartitionKey": self.partner_id, "RowKey": head_key(standard_id), **fields, "deleted": True}
        )

    # --- compliance rows ---

    def upsert_compliance(self, tenant_id: str, standard_id: str, fields: dict[str, Any]) -> None:
        self._reports.upsert_entity(
            {
                "PartitionKey": kind_partition(self.partner_id, COMPLIANCE),
                "RowKey": item_key(tenant_id, standard_id),
                "tenantId": tenant_id.lower(),
                "standardId": standard_id,
                **fields,
            },
        )

    def upsert_results(
        self,
        tenant_id: str,
        standard_id: str,
        *,
        version: int,
        mode: str,
        results: list[SettingResult],
        checked_at: str,
    ) -> None:
        """A check's outcome as the tenant's compliance row for the standard (a run's, or a sync's)."""
        self.upsert_compliance(
            tenant_id,
            standard_id,
            {
                "version": version,
                "mode": mode,
                "passed": sum(r.state == "pass" for r in results),
                "failed": sum(r.state == "fail" for r in results),
                "notAvailable": sum(r.state == "notAvailable" for r in results),
                "failing": json.dumps([r.id for r in results if r.state == "fail"]),
                "checkedAt": checked_at,
                "syncedAt": checked_at,
            },
        )

    def page_compliance(
        self,
        top: int,
        position: dict[str, Any] | None,
        *,
        tenant_id: str | None = None,
        standard_id: str | None = None,
    ) -> tuple[list[tables.Row], dict[str, Any] | None]:
        text = tables.partition(kind_partition(self.partner_id, COMPLIANCE))
        if tenant_id is not None:
            low, high = tenant_range(tenant_id)
            text += f" and RowKey ge {tables.literal(low)} and RowKey lt {tables.literal(high)}"
        if standard_id is not None:
            text += f" and {tables.eq('standardId', standard_id)}"
        found, after = tablequery.page(self._reports, text, top, position)
        return [tables.Row.of(r) for r in found], after


def settings_of(row: tables.Row) -> list[tuple[str, Any]]:
    return [(str(s["id"]), s["value"]) for s in json.loads(row["settings"])]
