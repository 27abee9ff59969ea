"""Tenant sync against real Azurite and the real Graph stand-in: full, incremental, crash and retry, drift."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.partners.service import Partner
from shared.standards.models import ComplianceQuery, ComplianceRow
from shared.tenants.models import BaselineSettings
from shared.tenants.service import TenantService
from shared.tenants.store import DirectoryStore, group_members
from tests.integration.rigs import connected_partner, onboard, queued_sync, service_for, stored_users

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

ACTION = ActionContext(Actor("personnel", "tester"))


class KilledError(Exception):
    """Stands for the process dying part-way through a sync."""


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Sync Test IT", tenant_limit=50)


def graph_users(service: TenantService, tenant_id: str) -> dict[str, Any]:
    with service.graph.reader(tenant_id, "graph-app") as reader:  # type: ignore[union-attr]
        users: dict[str, Any] = {}
        for page in reader.users_delta():
            users.update({u.id: u for u in page.items})
        return users


def test_a_sync_killed_after_some_pages_ends_exact_after_retry(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner, page_size=40)
    tenant_id = onboard(service, control, 230)
    sync_id = queued_sync(service, tenant_id)

    def die_after_two(pages: int) -> None:
        if pages == 2:
            raise KilledError

    with pytest.raises(KilledError):
        service.run_sync(tenant_id, sync_id, final_attempt=False, on_page=die_after_two)
    assert 0 < len(stored_users(service, tenant_id)) < 230
    # Meanwhile the tenant changes: the retry must see the tenant as it is now, exactly.
    first = sorted(graph_users(service, tenant_id))[:3]
    control.mutate(tenant_id, add=5, remove=first)
    result = service.run_sync(tenant_id, sync_id, final_attempt=False)
    assert result.state == "succeeded" and result.attempts == 2 and result.full
    assert set(stored_users(service, tenant_id)) == set(graph_users(service, tenant_id))
    assert service.get(tenant_id).counts.users == 232


def test_incremental_sync_applies_only_changes_and_survives_a_crash(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner, page_size=40)
    tenant_id = onboard(service, control, 120)
    first = service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    assert first.state == "succeeded" and first.counts.users == 120
    users = sorted(graph_users(service, tenant_id))
    control.mutate(
        tenant_id,
        add=60,
        change={users[0]: {"displayName": "Renamed Person", "accountEnabled": False}},
        remove=users[1:3],
    )
    sync = service.request_sync(tenant_id, "manual", ACTION)

    def die_after_one(pages: int) -> None:
        if pages == 1:
            raise KilledError

    with pytest.raises(KilledError):
        service.run_sync(tenant_id, sync.id, final_attempt=False, on_page=die_after_one)
    result = service.run_sync(tenant_id, sync.id, final_attempt=False)
    assert result.state == "succeeded" and result.full is False
    stored = stored_users(service, tenant_id)
    assert set(stored) == set(graph_users(service, tenant_id))
    assert stored[users[0]]["displayName"] == "Renamed Person" and stored[users[0]]["accountEnabled"] is False
    # Cost follows the change: 60 added + 1 changed + 2 removed, not the tenant's 178 users.
    assert result.counts.users_upserted == 61 and result.counts.users_removed == 2
    assert service.get(tenant_id).counts.users == 178


def test_expired_delta_token_resyncs_in_full_and_reconciles(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = onboard(service, control, 30)
    service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    users = sorted(graph_users(service, tenant_id))
    control.expire_delta_tokens(tenant_id)
    control.mutate(tenant_id, remove=users[:4], hard_delete=True)
    result = service.run_sync(
        tenant_id, service.request_sync(tenant_id, "manual", None).id, final_attempt=False
    )
    assert result.state == "succeeded" and result.full is True and result.counts.users_removed == 4
    assert set(stored_users(service, tenant_id)) == set(graph_users(service, tenant_id))


def test_groups_and_memberships_are_stored(partner: Partner, control: StandinControl) -> None:
    service = service_for(partner)
    tenant_id = onboard(service, control, 30)
    result = service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    assert result.counts.groups > 0
    store = DirectoryStore(service.account, partner.id, tenant_id, None)  # type: ignore[arg-type]
    rows = store.list_group_rows()
    assert len(rows) == result.counts.groups
    assert any(group_members(r) for r in rows)


def test_each_sync_checks_the_baseline_standard_in_report_mode(control: StandinControl) -> None:
    """The baseline is the built-in standard: a sync alone writes its compliance row, with the same
    findings GET .../baseline shows, and a check the partner switches off stops counting."""
    partner = connected_partner(control, "Baseline Standard IT")  # its own: the settings change below
    service = service_for(partner)
    standards = deps.standards(partner)
    tenant_id = onboard(service, control, 5)

    def compliance() -> ComplianceRow:
        query = ComplianceQuery(tenant_id=tenant_id, standard_id="tenantry-baseline")
        [row] = standards.list_compliance(query, visible=lambda t: True).items
        return row

    assert standards.list_compliance(ComplianceQuery(tenant_id=tenant_id), visible=lambda t: True).items == []
    service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    baseline = service.get_baseline(tenant_id)
    row = compliance()
    assert (row.mode, row.version, row.passed, row.failed) == ("report", 1, baseline.passed, baseline.failed)
    failing = [c.id for c in baseline.checks if c.state == "fail"]
    assert row.failing == [f"baseline.{c}" for c in failing]
    assert (
        baseline.evaluated_at is not None
        and abs((row.checked_at - baseline.evaluated_at).total_seconds()) <= 5
    )
    assert failing, "the stand-in's tenant fails some check (its licences are on disabled accounts)"

    switched_off = BaselineSettings.model_validate({"disabledChecks": failing[:1]})
    service.update_baseline_settings(switched_off, ACTION)
    service.run_sync(tenant_id, service.request_sync(tenant_id, "manual", None).id, final_attempt=False)
    checks = {c.id: c.state for c in service.get_baseline(tenant_id).checks}
    assert checks[failing[0]] == "off"
    after = compliance()
    assert f"baseline.{failing[0]}" not in after.failing
    assert after.not_available == row.not_available + 1 and after.failed == row.failed - 1


def test_configuration_drift_becomes_audit_events_and_baseline_follows(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = onboard(service, control, 20)
    service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    before = service.get_configuration(tenant_id).configuration
    enabled = before["securityDefaults"]["isEnabled"]

    # Someone changes the tenant outside Tenantry (the admin centre): through Graph directly.
    async def flip() -> None:
        async with service.graph.writer(tenant_id, "graph-app") as writer:  # type: ignore[union-attr]
            await writer.set_security_defaults(not enabled)

    asyncio.run(flip())
    result = service.run_sync(
        tenant_id, service.request_sync(tenant_id, "manual", None).id, final_attempt=False
    )
    assert result.counts.drift_events >= 1
    events = [
        e
        for e in iter_all(AuditLog(service.account, deps.clock()), partner.id)
        if e["action"] == "tenant.drift.securityDefaults" and e["target"]["id"] == tenant_id
    ]
    assert len(events) == 1
    assert events[0]["details"]["summary"] == f"security defaults {'disabled' if enabled else 'enabled'}"
    assert events[0]["actor"]["type"] == "system"
    assert events[0]["changes"]["securityDefaults"] == {"before": enabled, "after": not enabled}
    mfa = {c.id: c for c in service.get_baseline(tenant_id).checks}["mfaEnforced"]
    assert mfa.state in ("pass", "fail")

    # The partner sees both snapshots, marked as compared by the drift event (so they are kept as
    # long as it), and what changed between them.
    snapshots = service.list_snapshots(tenant_id).items
    last = service.get(tenant_id).last_sync
    assert last is not None and snapshots[0].sync_id == last.id
    assert len(snapshots) == 2 and all(s.compared_by_drift for s in snapshots)
    changes = service.list_snapshot_changes(tenant_id, snapshots[0].sync_id, None)
    assert changes.since == snapshots[1].sync_id
    assert [(c.setting, c.before, c.after) for c in changes.changes] == [
        ("securityDefaults", enabled, not enabled)
    ]
    assert service.list_snapshot_changes(tenant_id, snapshots[1].sync_id, None).changes == []


def test_removing_a_tenant_deletes_users_and_snapshots_and_keeps_events(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = onboard(service, control, 25)
    service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    assert stored_users(service, tenant_id)
    service.delete(tenant_id, ACTION)
    assert stored_users(service, tenant_id) == {}
    snapshots = list(
        service.account.container("tenantsnapshots").list_blobs(name_starts_with=f"{partner.id}/{tenant_id}/")
    )
    assert snapshots == []
    actions = [
        e["action"]
        for e in iter_all(AuditLog(service.account, deps.clock()), partner.id)
        if e["target"]["id"] == tenant_id
    ]
    assert "tenant.created" in actions and "tenant.deleted" in actions
