"""Self-service on a moved clock: the plan catalogue and its 30 days' notice, upgrades at once and
pro-rated, downgrades refused while too many tenants are held, cycle changes and unsubscribing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ProblemError
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn, PlanChangeIn
from shared.partners.plans import PlanCatalogue, PlanIn
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import BillingCycle, SubscriptionState, add_months, advance
from shared.privacy.plan_retention import SupersededPlanVersions
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.storage.router import StorageRouter
from shared.tenants.metering import count_partner_tenants
from shared.tenants.models import TenantIn
from tests.clocks import MovableClock
from tests.integration.rigs import ACTION, OPERATOR, PEPPER, service_for


def plan(name: str, tenants: int, monthly_euros: int) -> PlanIn:
    return PlanIn.model_validate(
        {
            "displayName": name,
            "tenantLimit": tenants,
            "monthlyPriceCents": monthly_euros * 100,
            "annualPriceCents": monthly_euros * 1000,
        }
    )


class World:
    """A catalogue of three plans (ids of this test's own) and a partner on the middle one."""

    def __init__(self, router: StorageRouter, start: datetime):
        self.clock = MovableClock(start)
        self.service = PartnerService(
            router,
            PartnerDirectory(router),
            self.clock,
            pepper_ring(PEPPER),
            tenant_count=lambda p: count_partner_tenants(router.region(p.region), p.id),
        )
        suffix = uuid.uuid4().hex[:8]
        self.mini, self.basic, self.pro = f"mini-{suffix}", f"basic-{suffix}", f"pro-{suffix}"
        self.service.plans.create_version(self.mini, plan("Mini", 2, 50), OPERATOR)
        self.service.plans.create_version(self.basic, plan("Basic", 10, 100), OPERATOR)
        self.service.plans.create_version(self.pro, plan("Pro", 50, 300), OPERATOR)
        body = PartnerIn.model_validate(
            {
                "displayName": "Self IT",
                "region": "eu",
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Ana Li", "email": "ana@self.example"},
                "subscription": {"plan": self.basic, "tenantLimit": 10, "billingCycle": "monthly"},
                "owner": {"objectId": str(uuid.uuid4()), "email": "owner@self.example"},
            }
        )
        self.partner_id = self.service.create(body, OPERATOR).id

    def partner(self) -> Partner:
        return self.service.get(self.partner_id)

    def change(self, **fields: str) -> Partner:
        return self.service.change_plan(self.partner(), PlanChangeIn.model_validate(fields), ACTION)


def test_an_upgrade_applies_at_once_and_charges_the_rest_of_the_cycle_pro_rated(
    router: StorageRouter,
) -> None:
    world = World(router, datetime(2026, 1, 1, tzinfo=UTC))
    world.clock.moment = datetime(2026, 1, 16, 12, tzinfo=UTC)  # half of January's 31 days left
    upgraded = world.service.view(world.change(plan=world.pro)).subscription
    assert (upgraded.plan, upgraded.tenant_limit, upgraded.pending_change) == (world.pro, 50, None)
    (line,) = upgraded.adjustments
    assert (line.from_plan, line.to_plan) == (world.basic, world.pro)
    assert line.amount_cents == round((30000 - 10000) * 15.5 / 31)  # EUR 100.00 for half a cycle


def test_a_downgrade_is_refused_naming_the_tenants_to_remove_then_applies_next_cycle(
    router: StorageRouter,
) -> None:
    world = World(router, datetime(2026, 1, 1, tzinfo=UTC))
    tenants = service_for(world.partner())
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for tenant_id in ids:
        tenants.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Fabrikam"), ACTION)
    world.clock.moment = datetime(2026, 1, 20, tzinfo=UTC)

    with pytest.raises(ProblemError) as refused:
        world.change(plan=world.mini)
    assert (refused.value.status, refused.value.kind) == (409, "too-many-tenants")
    assert "remove 1 tenants" in str(refused.value.detail)

    tenants.delete(ids[0], ACTION)
    scheduled = world.service.view(world.change(plan=world.mini)).subscription
    assert (scheduled.plan, scheduled.tenant_limit) == (world.basic, 10)  # still paid for this cycle
    assert scheduled.pending_change is not None
    assert (scheduled.pending_change.plan, scheduled.pending_change.tenant_limit) == (world.mini, 2)
    assert scheduled.pending_change.effective_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert scheduled.adjustments == []  # a downgrade charges nothing
    with pytest.raises(ProblemError) as full:  # nor may the partner outgrow the plan it chose meanwhile
        service_for(world.partner()).create(TenantIn(tenant_id=uuid.uuid4(), display_name="Extra"), ACTION)
    assert full.value.kind == "tenant-limit-reached"

    world.clock.moment = datetime(2026, 2, 1, 0, 1, tzinfo=UTC)
    after = world.service.view(world.partner()).subscription
    assert (after.plan, after.tenant_limit, after.pending_change) == (world.mini, 2, None)


def test_a_change_of_billing_cycle_starts_with_the_next_cycle_and_counts_from_there(
    router: StorageRouter,
) -> None:
    world = World(router, datetime(2026, 1, 31, tzinfo=UTC))
    world.clock.moment = datetime(2026, 2, 10, tzinfo=UTC)
    world.change(billingCycle="annual")
    sub = advance(world.partner().subscription, datetime(2026, 3, 1, tzinfo=UTC))
    assert sub.billing_cycle is BillingCycle.ANNUAL
    assert (sub.current_period_start, sub.current_period_end) == (
        datetime(2026, 2, 28, tzinfo=UTC),
        datetime(2027, 2, 28, tzinfo=UTC),
    )
    later = advance(sub, datetime(2027, 3, 1, tzinfo=UTC))
    assert (later.current_period_start, later.current_period_end) == (
        datetime(2027, 2, 28, tzinfo=UTC),
        datetime(2028, 2, 28, tzinfo=UTC),
    )


def test_unsubscribing_ends_the_subscription_at_the_end_of_the_paid_cycle(router: StorageRouter) -> None:
    world = World(router, datetime(2026, 1, 1, tzinfo=UTC))
    world.clock.moment = datetime(2026, 1, 5, tzinfo=UTC)
    ending = world.service.view(world.service.unsubscribe(world.partner(), ACTION)).subscription
    assert ending.state is SubscriptionState.ACTIVE
    assert ending.termination_effective_at == datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(ProblemError) as refused:
        world.change(plan=world.pro)
    assert refused.value.kind == "subscription-terminating"
    world.clock.moment = datetime(2026, 2, 1, 0, 1, tzinfo=UTC)
    assert world.service.view(world.partner()).subscription.state is SubscriptionState.TERMINATED


def test_a_price_change_reaches_a_partner_from_its_first_cycle_30_days_after_it_was_told(
    router: StorageRouter,
) -> None:
    world = World(router, datetime(2026, 1, 1, tzinfo=UTC))
    world.clock.moment = datetime(2026, 1, 10, tzinfo=UTC)
    world.service.plans.create_version(world.basic, plan("Basic", 10, 120), OPERATOR)
    catalogue = world.service.plans
    monthly = BillingCycle.MONTHLY
    assert catalogue.price_of(world.basic, monthly, datetime(2026, 1, 1, tzinfo=UTC)) == 10000
    assert catalogue.price_of(world.basic, monthly, datetime(2026, 2, 1, tzinfo=UTC)) == 10000  # 22 days
    assert catalogue.price_of(world.basic, monthly, datetime(2026, 3, 1, tzinfo=UTC)) == 12000

    (offered,) = [p for p in world.service.list_plans(world.partner()).items if p.id == world.basic]
    assert (offered.monthly_price_cents, offered.version) == (10000, 1)
    assert offered.next_version is not None and offered.next_version.monthly_price_cents == 12000
    assert offered.next_version_from == datetime(2026, 3, 1, tzinfo=UTC)

    # An upgrade on 15 February is pro-rated against basic at the price February pays: the old one.
    world.clock.moment = datetime(2026, 2, 15, tzinfo=UTC)
    (line,) = world.service.view(world.change(plan=world.pro)).subscription.adjustments
    assert line.amount_cents == round((30000 - 10000) * 14 / 28)


def test_a_superseded_plan_version_is_swept_ten_years_after_its_successor(
    router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2010, 1, 1, tzinfo=UTC))
    catalogue, plan_id = PlanCatalogue(router, clock), f"old-{uuid.uuid4().hex[:8]}"
    catalogue.create_version(plan_id, plan("Old", 5, 10), OPERATOR)
    clock.moment = datetime(2010, 6, 1, tzinfo=UTC)
    catalogue.create_version(plan_id, plan("Old", 5, 12), OPERATOR)
    due = add_months(datetime(2010, 6, 1, tzinfo=UTC) + timedelta(days=30), 120)
    rule = SupersededPlanVersions()

    def sweep(at: datetime) -> int:
        sweeper = RetentionSweeper(RetentionRegistry([rule]), router, MovableClock(at), budget_seconds=60)
        return sweeper.sweep("eu").per_rule.get(rule.name, 0)

    assert sweep(due - timedelta(days=1)) == 0
    assert [v.version for v in catalogue.list_versions(plan_id)] == [1, 2]
    assert sweep(due + timedelta(days=1)) == 1
    assert [v.version for v in catalogue.list_versions(plan_id)] == [2]  # the current one stays
    assert sweep(due + timedelta(days=2)) == 0
