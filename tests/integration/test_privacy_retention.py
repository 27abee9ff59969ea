"""Retention sweeps against Azurite, with a clock moved across every boundary of the design.

Each test works in its own decade of the past, so the sweeps (which see the whole region) touch
only what the test made: everything other tests make is dated today and far from due.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, EventFilter, NewEvent, bucket_name
from shared.partners.directory import PartnerDirectory
from shared.privacy.retention import (
    SYSTEM_PARTITION,
    PartitionRows,
    RetentionRegistry,
    RetentionSweeper,
    SweepBusyError,
    SweepReport,
    builtin_rules,
    end_user_data_at,
)
from shared.privacy.settings import PrivacySettingsIn, PrivacySettingsService
from shared.settings import get_settings
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import terminated_partner

PEPPER = "pepper-for-tests"
OPERATOR = ActionContext(Actor("operator", "operator"))
DAY = timedelta(days=1)


@pytest.fixture
def router() -> StorageRouter:
    # A router of its own: dropped bucket tables must not linger in a shared client cache.
    router = StorageRouter(get_settings())
    # An unfinished run of today's date (e.g. an e2e call of the sweep endpoint) would otherwise be
    # resumed here with its own reference time.
    router.region("eu").table("privacysweeps").delete_entity("sweep", "state")
    return router


def rows(router: StorageRouter, table: str, partner_id: str) -> list[Any]:
    return list(router.region("eu").table(table).query_entities(f"PartitionKey eq '{partner_id}'"))


def usage_rows(router: StorageRouter, partner_id: str) -> list[Any]:
    table = router.region("eu").table("usage")
    return list(table.query_entities(f"PartitionKey ge '{partner_id}-' and PartitionKey lt '{partner_id}.'"))


def sweeper(router: StorageRouter, at: datetime, registry: RetentionRegistry | None = None, **kw: Any) -> Any:
    return RetentionSweeper(
        registry or RetentionRegistry(builtin_rules()), router, MovableClock(at), budget_seconds=60, **kw
    )


def sweep_to_end(router: StorageRouter, at: datetime, **kw: Any) -> list[SweepReport]:
    reports = []
    for _ in range(100):
        reports.append(sweeper(router, at, **kw).sweep("eu"))
        if reports[-1].complete:
            return reports
    raise AssertionError("the sweep never completed")


def table_exists(router: StorageRouter, name: str) -> bool:
    service = router.region("eu").table_service()
    return any(True for _ in service.query_tables(f"TableName eq '{name}'"))


def test_event_buckets_go_whole_24_months_after_their_last_possible_event(router: StorageRouter) -> None:
    writer = AuditLog(router.region("eu"), MovableClock(datetime(1995, 3, 31, 23, 0, tzinfo=UTC)))
    writer.append("p-1995", NewEvent("thing.done", {"type": "operator", "id": "op"}, {"id": "x"}))
    bucket = bucket_name(datetime(1995, 3, 1, tzinfo=UTC))
    assert table_exists(router, bucket)

    # An event of 31 March 1995 is kept until 31 March 1997: the month's table stays until then.
    sweep_to_end(router, datetime(1997, 3, 31, tzinfo=UTC))
    assert table_exists(router, bucket)

    reports = sweep_to_end(router, datetime(1997, 4, 2, tzinfo=UTC))
    assert not table_exists(router, bucket)
    assert reports[-1].counts.get("event / audit logs", 0) >= 1
    assert reports[-1].per_rule.get("events.buckets", 0) >= 1


def test_personnel_keys_and_groups_go_24_months_after_termination(router: StorageRouter) -> None:
    partner = terminated_partner(router, MovableClock(datetime(2000, 1, 10, tzinfo=UTC)))
    schedule = partner.subscription.deletion_schedule
    assert schedule is not None
    personnel_at = schedule.personnel_data_at
    assert personnel_at == datetime(2002, 2, 10, tzinfo=UTC)

    sweep_to_end(router, personnel_at - DAY)
    for table in ("personnel", "apikeys", "tenantgroups"):
        assert rows(router, table, partner.id), f"{table} went a day early"
    assert rows(router, "partners", partner.id)[0]["contactEmail"] == "ana@old.example"

    reports = sweep_to_end(router, personnel_at + DAY)
    for table in ("personnel", "apikeys", "tenantgroups"):
        assert rows(router, table, partner.id) == [], f"{table} stayed after its date"
    record = rows(router, "partners", partner.id)[0]
    assert record["contactEmail"] == "erased" and record["contactName"] == "erased"
    # Administration records stay (7 years): the partner row and its usage.
    assert usage_rows(router, partner.id)
    assert reports[-1].run_counts.get("personnel data", 0) >= 4, (
        reports
    )  # person, index, owner count, contact
    ran = {name for report in reports for name in report.per_rule}
    assert {"personnel.rows", "apikeys.rows", "tenantgroups.rows", "partners.contact"} <= ran

    # The run reported itself in the region's event log.
    events = AuditLog(router.region("eu"), MovableClock(personnel_at + DAY)).list(
        SYSTEM_PARTITION, EventFilter(start=personnel_at, end=personnel_at + 2 * DAY), 50, None
    )[0]
    swept = [e for e in events if e["action"] == "privacy.retention.swept" and e["details"]["complete"]]
    assert swept and swept[0]["details"]["runDeleted"]["personnel data"] >= 4


@pytest.mark.parametrize("years", [7, 10])
def test_administration_records_go_7_years_after_the_service_ends_or_10(
    router: StorageRouter, years: int
) -> None:
    start = datetime(1980 if years == 7 else 1960, 1, 10, tzinfo=UTC)
    clock = MovableClock(start)
    partner = terminated_partner(router, clock)
    account = router.region("eu")
    if years == 10:
        PrivacySettingsService(account, clock).update(
            partner.id, PrivacySettingsIn(administration_retention_years=10), OPERATOR
        )
    ended = datetime(start.year, 2, 10, tzinfo=UTC)
    directory = PartnerDirectory(router)

    sweep_to_end(router, ended.replace(year=ended.year + 7) - DAY)
    sweep_to_end(router, ended.replace(year=ended.year + years) - DAY)
    assert rows(router, "partners", partner.id) and usage_rows(router, partner.id)
    assert directory.region_of(partner.id) == "eu"
    assert directory.list_partner_ids_of_tenant(partner.entra_tenant_id) == [partner.id]

    reports = sweep_to_end(router, ended.replace(year=ended.year + years) + DAY)
    assert any(report.per_rule.get("administration.records") for report in reports)
    assert rows(router, "partners", partner.id) == []
    assert usage_rows(router, partner.id) == []
    assert rows(router, "privacysettings", partner.id) == []
    assert PartnerDirectory(router).region_of(partner.id) is None
    # Nobody signing in under its Entra tenant is led to it any more.
    assert directory.list_partner_ids_of_tenant(partner.entra_tenant_id) == []


def test_an_area_plugs_in_end_user_data_due_at_the_end_of_the_subscription(router: StorageRouter) -> None:
    # Stands in for the tenants area: its rows go at endUserDataAt, through the same registry.
    partner = terminated_partner(router, MovableClock(datetime(1950, 1, 10, tzinfo=UTC)))
    registry = RetentionRegistry(
        [PartitionRows("area.enduser", "tenantgroups", "end-user data", end_user_data_at)]
    )
    end_user_at = datetime(1950, 2, 10, tzinfo=UTC)
    sweep_to_end(router, end_user_at - DAY, registry=registry)
    assert rows(router, "tenantgroups", partner.id)
    reports = sweep_to_end(router, end_user_at + DAY, registry=registry)
    assert rows(router, "tenantgroups", partner.id) == []
    assert reports[-1].run_counts == {"end-user data": 1}
    with pytest.raises(ValueError, match="twice"):
        registry.register(PartitionRows("area.enduser", "tenantgroups", "x", end_user_data_at))


def test_a_sweep_cut_off_half_way_resumes_deleting_nothing_twice_and_missing_nothing(
    router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(1930, 1, 10, tzinfo=UTC))
    partners = [terminated_partner(router, clock) for _ in range(2)]
    as_of = datetime(1932, 2, 11, tzinfo=UTC)
    preview = sweeper(router, as_of).sweep("eu", dry_run=True)
    assert preview.complete and sum(preview.counts.values()) >= 10
    for partner in partners:  # a dry run deletes nothing
        assert rows(router, "personnel", partner.id)

    reports = sweep_to_end(router, as_of, max_items=3)
    assert len(reports) >= 4, "the sweep should have needed several invocations"
    assert all(not r.complete for r in reports[:-1]) and reports[-1].complete
    # Each invocation reported; the run's totals equal the preview: nothing missed, nothing twice.
    assert all(sum(r.counts.values()) <= 3 for r in reports)
    total: dict[str, int] = {}
    for report in reports:
        for category, count in report.counts.items():
            total[category] = total.get(category, 0) + count
    assert total == preview.counts == reports[-1].run_counts
    assert len({r.run_id for r in reports}) == 1
    for partner in partners:
        assert rows(router, "personnel", partner.id) == []
    assert sum(sweeper(router, as_of).sweep("eu", dry_run=True).counts.values()) == 0


def test_a_sweep_stops_when_its_time_budget_is_spent(router: StorageRouter) -> None:
    terminated_partner(router, MovableClock(datetime(1920, 1, 10, tzinfo=UTC)))
    ticks = iter(range(0, 10_000, 10))
    budgeted = RetentionSweeper(
        RetentionRegistry(builtin_rules()),
        router,
        MovableClock(datetime(1922, 2, 11, tzinfo=UTC)),
        budget_seconds=25,
        monotonic=lambda: float(next(ticks)),
    )
    report = budgeted.sweep("eu")
    assert not report.complete and 1 <= sum(report.counts.values()) <= 3
    assert sweep_to_end(router, datetime(1922, 2, 11, tzinfo=UTC))[-1].complete


def test_two_sweeps_of_a_region_never_run_at_once(router: StorageRouter) -> None:
    table = router.region("eu").table("privacysweeps")
    table.upsert_entity(
        {"PartitionKey": "sweep", "RowKey": "lease", "holder": "other", "until": time.time() + 60}
    )
    with pytest.raises(SweepBusyError):
        sweeper(router, datetime(1910, 1, 1, tzinfo=UTC)).sweep("eu")
    assert sweeper(router, datetime(1910, 1, 1, tzinfo=UTC)).sweep("eu", dry_run=True).complete
    # A lease left by a crashed invocation expires.
    table.upsert_entity(
        {"PartitionKey": "sweep", "RowKey": "lease", "holder": "other", "until": time.time() - 1}
    )
    assert sweeper(router, datetime(1910, 1, 1, tzinfo=UTC)).sweep("eu").complete
    assert not list(table.query_entities("RowKey eq 'lease'"))
