"""Baselines of one partner: its settings, and each tenant's latest results (checked at each sync)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.access.principals import SYSTEM
from shared.audit.context import ActionContext, diff
from shared.clock import Clock, isoformat
from shared.storage import tables
from shared.tenants.models import BaselineOut, BaselineSettings, CheckResult
from shared.tenants.records import BASELINES, TenantStore
from shared.tenants.snapshots import without_mentions

if TYPE_CHECKING:
    from shared.audit.log import AuditLog
    from shared.storage.router import AccountStorage

_SETTINGS = "~settings"


def baseline_naming(account: AccountStorage, partner_id: str, tenant_id: str, identifiers: set[str]) -> int:
    """How often the tenant's stored check results name the end user (a check's sample of
    disabled accounts holding licences lists object ids)."""
    row = tables.get(account.table(BASELINES), partner_id, tenant_id)
    if row is None:
        return 0
    return without_mentions(json.loads(row["checks"]), frozenset(i.lower() for i in identifiers if i))[1]


def erase_from_baseline(
    account: AccountStorage, partner_id: str, tenant_id: str, identifiers: set[str]
) -> int:
    """Rewrites the tenant's check results with the end user read as `[erased]` (erasure; idempotent)."""
    table = account.table(BASELINES)
    row = tables.get(table, partner_id, tenant_id)
    if row is None:
        return 0
    erased, mentions = without_mentions(
        json.loads(row["checks"]), frozenset(i.lower() for i in identifiers if i)
    )
    if mentions:
        table.upsert_entity({**row, "checks": json.dumps(erased)})
    return int(mentions)


def baseline_out(tenant_id: str, row: Any | None) -> BaselineOut:
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


class BaselineService:
    """What a sync checks each tenant against (settings), and what it found (results)."""

    def __init__(
        self, account: AccountStorage, partner_id: str, clock: Clock, audit: AuditLog, rows: TenantStore
    ):
        self.account = account
        self.partner_id = partner_id
        self.clock = clock
        self.audit = audit
        self.rows = rows

    @property
    def _table(self) -> Any:
        return self.account.table(BASELINES)

    def get_settings(self) -> BaselineSettings:
        row = tables.get(self._table, self.partner_id, _SETTINGS)
        if row is None:
            return BaselineSettings()
        return BaselineSettings.model_validate_json(row["settings"])

    def update_settings(self, settings: BaselineSettings, context: ActionContext) -> BaselineSettings:
        before = self.get_settings()
        self._table.upsert_entity(
            {"PartitionKey": self.partner_id, "RowKey": _SETTINGS, "settings": settings.model_dump_json()}
        )
        context.record(
            self.audit,
            self.partner_id,
            "baseline.settingsChanged",
            {"type": "partner", "id": self.partner_id},
            changes=diff(before.model_dump(by_alias=True), settings.model_dump(by_alias=True)),
        )
        return settings

    def replace_results(self, tenant_id: str, sync_id: str, results: list[CheckResult]) -> None:
        """A sync's findings replace the tenant's previous ones; a check that passed and now fails,
        or failed and no longer does, is an event (the alert rules read them)."""
        previous = tables.get(self._table, self.partner_id, tenant_id)
        self._table.upsert_entity(
            {
                "PartitionKey": self.partner_id,
                "RowKey": tenant_id,
                "syncId": sync_id,
                "evaluatedAt": isoformat(self.clock.now()),
                "checks": json.dumps([r.model_dump(mode="json", by_alias=True) for r in results]),
            }
        )
        if previous is not None:
            self._record_transitions(tenant_id, sync_id, json.loads(previous["checks"]), results)

    def _record_transitions(
        self, tenant_id: str, sync_id: str, before: list[dict[str, Any]], results: list[CheckResult]
    ) -> None:
        # Only pass -> fail is news: a check failing since the tenant's first evaluation is what
        # GET .../baseline shows, and a check Graph could not read (notAvailable) proves nothing.
        was = {str(c.get("id")): str(c.get("state")) for c in before}
        failing = {r.id: r for r in results if r.state == "fail" and was.get(r.id) == "pass"}
        cleared = {r.id: r for r in results if r.state != "fail" and was.get(r.id) == "fail"}
        context = ActionContext(SYSTEM)
        for action, found in (
            ("tenant.baseline.checkFailing", failing),
            ("tenant.baseline.checkCleared", cleared),
        ):
            if found:
                context.record(
                    self.audit,
                    self.partner_id,
                    action,
                    {"type": "tenant", "id": tenant_id},
                    changes={k: {"before": was[k], "after": r.state} for k, r in found.items()},
                    details={
                        "syncId": sync_id,
                        "checks": {k: {"title": r.title, "detail": r.detail} for k, r in found.items()},
                    },
                )

    def get_baseline(self, tenant_id: str) -> BaselineOut:
        tenant_id = str(self.rows.get(tenant_id)["RowKey"])
        return baseline_out(tenant_id, tables.get(self._table, self.partner_id, tenant_id))

    def list_baselines(
        self, top: int, continuation: str | None, visible: Callable[[str], bool]
    ) -> tuple[list[BaselineOut], str | None]:
        rows, token = tables.page(
            self._table, f"{tables.partition(self.partner_id)} and RowKey lt '~'", top, continuation
        )
        return [baseline_out(str(r["RowKey"]), r) for r in rows if visible(str(r["RowKey"]))], token
