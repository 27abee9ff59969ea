"""One partner's standards: templates (built-in and own, versioned), runs over tenants, compliance pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ClientAuthenticationError

from shared.access.principals import SYSTEM
from shared.adapters.graph import GraphError
from shared.adapters.graph_policies import PolicyClient, TenantPolicies
from shared.audit.context import ActionContext
from shared.clock import Clock, isoformat
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.partners import subscription as subs
from shared.standards import engine
from shared.standards.baseline import baseline_section
from shared.standards.catalogue import BASELINE, BUILT_IN_PREFIX, BUILT_INS, SETTINGS
from shared.standards.models import (
    CatalogueSetting,
    CompliancePage,
    ComplianceQuery,
    ComplianceRow,
    RunIn,
    RunOut,
    SettingCatalogue,
    SettingOut,
    SettingResult,
    StandardIn,
    StandardList,
    StandardOut,
    TenantRun,
)
from shared.standards.store import StandardStore, settings_of
from shared.storage import tables
from shared.storage.tables import decode_token, encode_token
from shared.tenants.baselines import baseline_out
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, GraphAccess, graph_problem
from shared.tenants.proof import PROVEN
from shared.tenants.records import BASELINES

if TYPE_CHECKING:
    from shared.audit.log import AuditLog
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage
    from shared.tenants.records import TenantStore

ALL_MODES: list[Any] = ["report", "alert", "remediate"]
DEVIATION = "tenant.drift.standardDeviation"  # a drift event: the alert rules' path for tenant.drift.*


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _modes(settings: list[tuple[str, Any]]) -> list[Any]:
    """Remediation needs a setting Tenantry can set; baseline checks it only reports."""
    return ALL_MODES if any(SETTINGS[k].remediable for k, _ in settings) else ALL_MODES[:2]


def _settings_out(settings: list[tuple[str, Any]]) -> list[SettingOut]:
    return [
        SettingOut(id=k, title=SETTINGS[k].title, value=v, remediable=SETTINGS[k].remediable)
        for k, v in settings
    ]


class StandardService:
    """Standards of one partner, applied to its tenants through Graph (never without proof)."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        clock: Clock,
        audit: AuditLog,
        graph: GraphAccess | None,
        *,
        rows: TenantStore,
    ):
        self.partner = partner
        self.clock = clock
        self.audit = audit
        self.graph = graph
        self.rows = rows
        self.account = account
        self.store = StandardStore(account, partner.id)

    # --- templates ---

    def list_settings(self) -> SettingCatalogue:
        return SettingCatalogue(
            items=[
                CatalogueSetting(
                    id=s.id,
                    title=s.title,
                    type=s.type_name,  # type: ignore[arg-type]
                    allowed=list(s.allowed) if s.allowed else None,
                    remediable=s.remediable,
                )
                for s in SETTINGS.values()
            ]
        )

    def list_standards(self) -> StandardList:
        own = [self._out(r) for r in self.store.list_all()]
        return StandardList(items=[self._built_in(b) for b in BUILT_INS] + sorted(own, key=lambda s: s.name))

    def get_standard(self, standard_id: str) -> StandardOut:
        if standard_id in BUILT_INS:
            return self._built_in(standard_id)
        return self._out(self._row(standard_id))

    def create_standard(self, body: StandardIn, context: ActionContext) -> StandardOut:
        settings = self._validated(body)
        standard_id = new_id()
        fields = self._fields(body, settings, 1)
        self.store.create_or_update(standard_id, fields)
        context.record(
            self.audit,
            self.partner.id,
            "standard.created",
            {"type": "standard", "id": standard_id},
            details={"name": body.name, "version": 1},
        )
        return self._out({"RowKey": f"~standard~{standard_id}", **fields})

    def update_standard(self, standard_id: str, body: StandardIn, context: ActionContext) -> StandardOut:
        self._own(standard_id)
        row = self._row(standard_id)
        settings = self._validated(body)
        version = int(row["version"]) + 1
        fields = self._fields(body, settings, version)
        self.store.create_or_update(standard_id, fields)
        context.record(
            self.audit,
            self.partner.id,
            "standard.updated",
            {"type": "standard", "id": standard_id},
            changes={
                "settings": {"before": json.loads(row["settings"]), "after": json.loads(fields["settings"])}
            },
            details={"name": body.name, "version": version},
        )
        return self._out({"RowKey": row["RowKey"], **fields})

    def delete_standard(self, standard_id: str, context: ActionContext) -> None:
        self._own(standard_id)
        row = self._row(standard_id)
        self.store.delete(standard_id, {k: v for k, v in row.items() if k not in ("PartitionKey", "RowKey")})
        context.record(
            self.audit, self.partner.id, "standard.deleted", {"type": "standard", "id": standard_id}
        )

    def _own(self, standard_id: str) -> None:
        if standard_id in BUILT_INS:
            raise ProblemError(
                409,
                "built-in-standard",
                "Built-in standards cannot change.",
                "Create your own from its settings.",
            )

    def _row(self, standard_id: str) -> Any:
        row = self.store.get(standard_id) if not standard_id.startswith(BUILT_IN_PREFIX) else None
        if row is None:
            raise not_found("No such standard.")
        return row

    def _validated(self, body: StandardIn) -> list[tuple[str, Any]]:
        errors: list[FieldError] = []
        seen: set[str] = set()
        for index, setting in enumerate(body.settings):
            spec = SETTINGS.get(setting.id)
            if spec is None:
                errors.append(FieldError(f"settings[{index}].id", "Not a setting of the catalogue."))
            elif setting.id in seen:
                errors.append(FieldError(f"settings[{index}].id", "Named twice."))
            elif not spec.accepts(setting.value):
                allowed = f" one of {list(spec.allowed)}" if spec.allowed else ""
                errors.append(FieldError(f"settings[{index}].value", f"Must be a {spec.type_name}{allowed}."))
            seen.add(setting.id)
        if errors:
            raise validation_failed(errors)
        return [(s.id, s.value) for s in body.settings]

    def _fields(self, body: StandardIn, settings: list[tuple[str, Any]], version: int) -> dict[str, Any]:
        return {
            "name": body.name,
            "description": body.description,
            "version": version,
            "settings": json.dumps([{"id": k, "value": v} for k, v in settings]),
            "updatedAt": isoformat(self.clock.now()),
        }

    def _built_in(self, standard_id: str) -> StandardOut:
        b = BUILT_INS[standard_id]
        return StandardOut(
            id=b.id,
            name=b.name,
            description=b.description,
            version=1,
            built_in=True,
            modes=[m for m in ALL_MODES if m in b.modes],
            settings=_settings_out(list(b.settings)),
        )

    def _out(self, row: Any) -> StandardOut:
        return StandardOut(
            id=str(row["RowKey"]).split("~")[2],
            name=row["name"],
            description=row.get("description") or "",
            version=int(row["version"]),
            built_in=False,
            modes=_modes(settings_of(row)),
            settings=_settings_out(settings_of(row)),
            updated_at=_time(row["updatedAt"]) if row.get("updatedAt") else None,
        )

    # --- runs ---

    def get_standard_at(self, standard_id: str, version: int | None) -> StandardOut:
        """The standard as a run applies it: its current version (None), or a pinned one."""
        if version is None:
            return self.get_standard(standard_id)
        if standard_id in BUILT_INS:
            if version != 1:
                raise validation_failed([FieldError("version", "Built-in standards have version 1 only.")])
            return self._built_in(standard_id)
        self._row(standard_id)  # 404 for a standard deleted or never made
        row = self.store.get_version(standard_id, version)
        if row is None:
            raise validation_failed([FieldError("version", "The standard has no such version.")])
        return self._out(row)

    def check_mode(self, standard: StandardOut, mode: str) -> None:
        if mode not in standard.modes:
            raise validation_failed(
                [FieldError("mode", f"This standard is applied in {' or '.join(standard.modes)} mode only.")]
            )

    def run_tenant(
        self, tenant_id: str, standard: StandardOut, mode: Any, dry_run: bool, context: ActionContext
    ) -> TenantRun:
        """One tenant of a long run: checked (and remediated), its compliance row written."""
        settings = [(s.id, s.value) for s in standard.settings]
        return self._run_tenant(tenant_id, standard, settings, RunIn(mode=mode, dry_run=dry_run), context)

    def run(
        self,
        standard_id: str,
        body: RunIn,
        context: ActionContext,
        *,
        visible: Callable[[str], bool],
        group_members: Callable[[str], list[str]],
    ) -> RunOut:
        """Checks (and in `remediate` mode changes) each named tenant. Every tenant and group is
        resolved before the first is touched: an unknown one answers 404 with nothing done."""
        standard = self.get_standard(standard_id)
        settings = [(s.id, s.value) for s in standard.settings]
        self.check_mode(standard, body.mode)
        targets: list[str] = []
        for tenant in body.tenant_ids:
            if not visible(tenant.lower()):
                raise not_found("No such tenant.")
            targets.append(str(self.rows.get(tenant)["RowKey"]))
        for group in body.tenant_groups:
            targets += [t for t in group_members(group) if visible(t)]
        targets = sorted(set(targets))
        if not targets:
            raise validation_failed(
                [FieldError("tenantIds", "Name at least one tenant or a tenant group with tenants.")]
            )
        now = self.clock.now()
        if body.mode == "remediate" and not body.dry_run:
            # The guard the write routes use, here too: a read-only subscription changes no tenant.
            refusal = subs.write_refusal(subs.advance(self.partner.subscription, now), now)
            if refusal is not None:
                raise refusal
        runs = [self._run_tenant(t, standard, settings, body, context) for t in targets]
        return RunOut(
            standard_id=standard.id,
            version=standard.version,
            mode=body.mode,
            dry_run=body.dry_run,
            checked_at=now,
            tenants=runs,
        )

    def _run_tenant(
        self,
        tenant_id: str,
        standard: StandardOut,
        settings: list[tuple[str, Any]],
        body: RunIn,
        context: ActionContext,
    ) -> TenantRun:
        try:
            row = self.rows.get(tenant_id)
        except ProblemError:
            return TenantRun(tenant_id=tenant_id, outcome="skipped", reason="The tenant was removed.")
        if row.get("accessState") != PROVEN or self.graph is None:
            # Nothing is read from or written to a tenant whose access is not proven.
            return TenantRun(
                tenant_id=tenant_id, outcome="skipped", reason="Access to the tenant is not proven."
            )
        writer = self.graph.writer(tenant_id, str(row.get("credentialRef") or DEFAULT_CREDENTIAL))
        client = PolicyClient(writer)
        remediate = body.mode == "remediate"

        sections = {SETTINGS[k].section for k, _ in settings}

        async def read() -> TenantPolicies:
            policies = (
                await client.get_policies(sections - {BASELINE})
                if sections - {BASELINE}
                else TenantPolicies()
            )
            if BASELINE in sections:
                policies.sections[BASELINE] = self._baseline_states(tenant_id)
            return policies

        async def work() -> tuple[list[SettingResult], list[SettingResult] | None]:
            async with writer:
                policies = await read()
                results = engine.check(settings, policies)
                for result in results:
                    result.changes = engine.plan(result, policies) if remediate else []
                if not remediate or body.dry_run or not any(r.changes for r in results):
                    return results, None
                for result in results:
                    if result.changes:
                        await engine.apply(client, result, policies)
                        self._record_change(context, tenant_id, standard, result)
                after = await read()
                return results, engine.check(settings, after)

        try:
            checked, rechecked = asyncio.run(work())
        except (GraphError, ClientAuthenticationError) as error:
            # Refused or unreachable (a token refused once consent is revoked): this tenant only.
            return TenantRun(tenant_id=tenant_id, outcome="skipped", reason=graph_problem(error).detail)
        if rechecked is not None:
            changes = {r.id: r.changes for r in checked}
            for result in rechecked:
                result.changes = changes.get(result.id, [])
            final, outcome = rechecked, "remediated"
        else:
            final, outcome = checked, ("planned" if remediate and body.dry_run else "checked")
        if body.dry_run:
            return self._tenant_run(tenant_id, outcome, final)
        if body.mode == "alert":
            self._record_deviation(tenant_id, standard, final)
        self._write_compliance(tenant_id, standard, body, final)
        return self._tenant_run(tenant_id, outcome, final)

    def _baseline_states(self, tenant_id: str) -> dict[str, str]:
        """The `baseline` section from the tenant's latest sync, whose checks (baseline.py) it stored."""
        found = baseline_out(tenant_id, tables.get(self.account.table(BASELINES), self.partner.id, tenant_id))
        return baseline_section(found.checks)

    @staticmethod
    def _tenant_run(tenant_id: str, outcome: Any, results: list[SettingResult]) -> TenantRun:
        return TenantRun(
            tenant_id=tenant_id,
            outcome=outcome,
            passed=sum(r.state == "pass" for r in results),
            failed=sum(r.state == "fail" for r in results),
            settings=results,
        )

    def _record_change(
        self, context: ActionContext, tenant_id: str, standard: StandardOut, result: SettingResult
    ) -> None:
        context.record(
            self.audit,
            self.partner.id,
            "tenant.standard.remediated",
            {"type": "tenant", "id": tenant_id},
            changes={c.target: {"before": c.before, "after": c.after} for c in result.changes},
            details={"standardId": standard.id, "version": standard.version, "setting": result.id},
        )

    def _record_deviation(self, tenant_id: str, standard: StandardOut, results: list[SettingResult]) -> None:
        failing = [r for r in results if r.state == "fail"]
        if not failing:
            return
        ActionContext(SYSTEM).record(
            self.audit,
            self.partner.id,
            DEVIATION,
            {"type": "tenant", "id": tenant_id},
            changes={f"{standard.id}/{r.id}": {"before": r.desired, "after": r.current} for r in failing},
            details={
                "summary": f"{len(failing)} setting(s) differ from the standard {standard.name!r}: "
                + ", ".join(r.title for r in failing),
                "standardId": standard.id,
                "version": standard.version,
            },
        )

    def _write_compliance(
        self, tenant_id: str, standard: StandardOut, body: RunIn, results: list[SettingResult]
    ) -> None:
        self.store.upsert_results(
            tenant_id,
            standard.id,
            version=standard.version,
            mode=body.mode,
            results=results,
            checked_at=isoformat(self.clock.now()),
        )

    # --- compliance ---

    def list_compliance(self, query: ComplianceQuery, visible: Callable[[str], bool]) -> CompliancePage:
        """A page across the partner's tenants (one range read), or one tenant's rows; a scoped
        caller sees the rows of its tenants only."""
        if query.tenant_id is not None:
            if not visible(query.tenant_id.lower()):
                raise not_found("No such tenant.")
            self.rows.get(query.tenant_id)
        scope = f"standards\n{self.partner.id}\n{query.tenant_id}\n{query.standard_id}"
        position = decode_token(query.continuation_token, scope=scope)
        if position is not None and not isinstance(position, dict):
            raise ProblemError(400, "bad-request", "Bad request.", "continuationToken is not one we issued.")
        found, after = self.store.page_compliance(
            query.top,
            position,
            tenant_id=query.tenant_id.lower() if query.tenant_id else None,
            standard_id=query.standard_id,
        )
        items = [
            ComplianceRow(
                tenant_id=str(r["tenantId"]),
                standard_id=str(r["standardId"]),
                version=int(r["version"]),
                mode=r["mode"],
                compliant=int(r["failed"]) == 0,
                passed=int(r["passed"]),
                failed=int(r["failed"]),
                not_available=int(r["notAvailable"]),
                failing=json.loads(r["failing"]),
                checked_at=_time(r["checkedAt"]),
            )
            for r in found
            if visible(str(r["tenantId"]))
        ]
        return CompliancePage(
            items=items, continuation_token=encode_token(after, scope=scope) if after else None
        )
