"""End-user data of a partner whose subscription ended goes at endUserDataAt, through the retention sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions import deps
from localdev.proving import connect_with_service
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.settings import get_settings
from shared.storage.router import StorageRouter
from shared.tenants.retention import EndUserDataAtSubscriptionEnd
from tests.clocks import MovableClock
from tests.integration.rigs import onboard, queued_sync, service_for, stored_users, terminated_partner

DAY = timedelta(days=1)


def sweep_to_end(router: StorageRouter, at: datetime) -> dict[str, int]:
    registry = RetentionRegistry([EndUserDataAtSubscriptionEnd()])
    counts: dict[str, int] = {}
    for _ in range(50):
        report = RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60).sweep("eu")
        for category, count in report.run_counts.items():
            counts[category] = counts.get(category, 0) + count
        if report.complete:
            return counts
    raise AssertionError("the sweep never completed")


def test_synced_users_go_a_day_after_the_subscription_ends_not_a_day_before(control: Any) -> None:
    router = StorageRouter(get_settings())
    router.region("eu").table("privacysweeps").delete_entity("sweep", "state")
    partner = terminated_partner(router, MovableClock(datetime(1950, 1, 10, tzinfo=UTC)))
    assert partner.subscription.deletion_schedule is not None
    end_user_at = partner.subscription.deletion_schedule.end_user_data_at
    service = service_for(partner)
    connect_with_service(service.proof, control)
    tenant_id = onboard(service, control, 12)
    service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False)
    assert len(stored_users(service, tenant_id)) == 12
    reports = service.account.table("reportrows")

    def report_rows() -> list[Any]:  # the tenant's report and search rows (shared/reports)
        return list(reports.query_entities("tenantId eq @t", parameters={"t": tenant_id}, select=["RowKey"]))

    assert len(report_rows()) > 12

    assert sweep_to_end(router, end_user_at - DAY) == {}
    assert len(stored_users(service, tenant_id)) == 12

    assert sweep_to_end(router, end_user_at + DAY) == {"end-user data": 1}
    assert stored_users(service, tenant_id) == {}
    assert report_rows() == []
    snapshots = service.account.container("tenantsnapshots").list_blobs(
        name_starts_with=f"{partner.id}/{tenant_id}/"
    )
    assert list(snapshots) == []
    tenants = service.account.table("tenants").query_entities(
        "PartitionKey eq @pk and RowKey lt '~'", parameters={"pk": partner.id}
    )
    assert list(tenants) == []
    # ...and the tenant is free again: no other partner's proof meets this partner's claim.
    assert service.proof.claims.get(tenant_id) is None
    # Nothing left to do: a second sweep deletes nothing twice.
    assert sweep_to_end(router, end_user_at + 2 * DAY) == {}


def test_the_app_sweeps_with_this_rule() -> None:
    assert "tenants.end-user-data" in {rule.name for rule in deps.retention_registry().rules()}
