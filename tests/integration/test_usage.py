"""Usage rows against Azurite: each unit of work counts once, months and billing periods separate,
and tenants are a daily figure taken from the tenant registry."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from shared.ids import new_id
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import PartnerService
from shared.storage.router import StorageRouter
from shared.tenants.metering import record_daily_tenants
from shared.tenants.models import TenantIn
from shared.usage import Unit, UsageMeter
from tests.clocks import MovableClock
from tests.integration.rigs import ACTION, OPERATOR, PEPPER, service_for


def test_retried_work_counts_once_and_months_stay_apart(router: StorageRouter) -> None:
    clock = MovableClock(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    meter = UsageMeter(router.region("eu"), clock)
    partner = new_id()
    calls = [new_id() for _ in range(150)]
    # Every call recorded twice, from 16 threads at once: as retries racing their originals.
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: meter.record(partner, Unit.API_CALLS, key=key), calls + calls))
    notification = new_id()
    sent = [f"{notification}.{device}" for device in range(130)]  # more than one transaction holds
    assert meter.record_many(partner, Unit.NOTIFICATIONS_SENT, sent + sent[:40]) == 170
    meter.record(partner, Unit.DEVICES_REGISTERED, key="device-1")
    meter.record(partner, Unit.DEVICES_REGISTERED, key="device-1")
    meter.record(partner, Unit.SUBJECT_REQUESTS_HANDLED, key=new_id())

    clock.moment = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    meter.record(partner, Unit.API_CALLS, key=new_id())
    meter.add(partner, Unit.API_CALLS, 4)

    november = meter.month(partner, "2026-11")
    assert november == {
        "apiCalls": 150,
        "tenants": 0,
        "notificationsSent": 130,
        "devicesRegistered": 1,
        "subjectRequestsHandled": 1,
        "tenantDays": 0,
    }
    assert meter.month(partner, "2026-12")["apiCalls"] == 5
    assert meter.month(new_id(), "2026-11")["apiCalls"] == 0


def test_work_retried_just_after_a_month_ends_counts_in_the_month_it_was_first_recorded(
    router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2026, 11, 30, 23, 59, 50, tzinfo=UTC))
    meter, partner = UsageMeter(router.region("eu"), clock), new_id()
    shard, request = f"{new_id()}.00000", new_id()
    meter.record(partner, Unit.NOTIFICATIONS_SENT, key=shard, amount=25)
    meter.record(partner, Unit.SUBJECT_REQUESTS_HANDLED, key=request)
    clock.moment = datetime(2026, 12, 1, 0, 0, 20, tzinfo=UTC)  # the retries, 30 s later
    meter.record(partner, Unit.NOTIFICATIONS_SENT, key=shard, amount=25)
    meter.record(partner, Unit.SUBJECT_REQUESTS_HANDLED, key=request)
    meter.record(partner, Unit.SUBJECT_REQUESTS_HANDLED, key=new_id())  # new work: December's

    november, december = meter.month(partner, "2026-11"), meter.month(partner, "2026-12")
    assert (november["notificationsSent"], november["subjectRequestsHandled"]) == (25, 1)
    assert (december["notificationsSent"], december["subjectRequestsHandled"]) == (0, 1)


def test_a_billing_period_counts_only_the_work_inside_it(router: StorageRouter) -> None:
    clock = MovableClock(datetime(2026, 10, 14, 9, 0, tzinfo=UTC))
    meter, partner = UsageMeter(router.region("eu"), clock), new_id()
    meter.record(partner, Unit.API_CALLS, key="before")  # 14 Oct: the previous period
    clock.moment = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
    meter.record(partner, Unit.API_CALLS, key="first")
    clock.moment = datetime(2026, 11, 14, 23, 0, tzinfo=UTC)
    meter.record(partner, Unit.API_CALLS, key="last")
    clock.moment = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    meter.record(partner, Unit.API_CALLS, key="after")  # the next period

    start, end = datetime(2026, 10, 15, 12, 0, tzinfo=UTC), datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert meter.get_totals(partner, start=start, end=end)["apiCalls"] == 2
    assert meter.get_totals(partner, start=end, end=end + timedelta(days=30))["apiCalls"] == 1


def test_tenants_are_a_daily_figure_from_the_registry_not_from_onboarding(router: StorageRouter) -> None:
    clock = MovableClock(datetime.now(UTC).replace(day=3, hour=8))
    partners = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    body = PartnerIn.model_validate(
        {
            "displayName": "Metered IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@metered.example"},
            "subscription": {"plan": "standard", "tenantLimit": 10, "billingCycle": "monthly"},
            "owner": {"objectId": str(uuid.uuid4()), "email": "owner@metered.example"},
        }
    )
    partner = partners.create(body, OPERATOR)
    tenants = service_for(partner)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for tenant_id in ids:
        tenants.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Fabrikam"), ACTION)

    def census() -> None:
        record_daily_tenants(["eu"], router.region, lambda region: UsageMeter(router.region(region), clock))

    census()
    tenants.delete(ids[0], ACTION)
    census()  # the same day again: the day keeps its highest figure
    meter, month = UsageMeter(router.region("eu"), clock), f"{clock.moment:%Y-%m}"
    assert (meter.month(partner.id, month)["tenants"], meter.month(partner.id, month)["tenantDays"]) == (3, 3)

    # Two days without any onboarding still bill the tenants held on each of them.
    for _ in range(2):
        clock.moment += timedelta(days=1)
        census()
        census()
    totals = meter.month(partner.id, month)
    assert (totals["tenants"], totals["tenantDays"]) == (3, 3 + 2 + 2)
