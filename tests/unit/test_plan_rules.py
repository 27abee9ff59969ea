"""The rules of self-service without storage: pro-rating, trials, and which price version a cycle pays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.partners.plans import PlanVersion, version_for
from shared.partners.subscription import BillingCycle, new_subscription, upgrade_now

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def version(number: int, announced: datetime, monthly: int) -> PlanVersion:
    return PlanVersion(
        plan_id="basic",
        version=number,
        display_name="Basic",
        tenant_limit=10,
        monthly_price_cents=monthly,
        annual_price_cents=monthly * 10,
        currency="EUR",
        available=True,
        announced_at=announced,
    )


def test_an_upgrade_in_a_trial_charges_nothing_and_a_paid_one_the_days_left() -> None:
    trial = new_subscription("basic", 10, BillingCycle.MONTHLY, 14, JAN)
    moved = upgrade_now(trial, "pro", 50, price_now=10000, price_new=30000, now=JAN + timedelta(days=3))
    assert (moved.plan, moved.tenant_limit, moved.adjustments) == ("pro", 50, [])

    paid = new_subscription("basic", 10, BillingCycle.MONTHLY, None, JAN)
    last_day = datetime(2026, 1, 31, tzinfo=UTC)
    (line,) = upgrade_now(paid, "pro", 50, price_now=10000, price_new=31000, now=last_day).adjustments
    assert line.amount_cents == 21000 // 31  # one day of 31 left
    assert (line.period_start, line.period_end) == (last_day, datetime(2026, 2, 1, tzinfo=UTC))


def test_a_new_price_waits_30_days_but_a_new_plan_is_on_offer_at_once() -> None:
    versions = [version(1, JAN, 10000), version(2, datetime(2026, 3, 10, tzinfo=UTC), 12000)]
    assert version_for(versions, JAN) == versions[0]
    assert version_for(versions, datetime(2026, 4, 8, tzinfo=UTC)) == versions[0]  # 29 days
    assert version_for(versions, datetime(2026, 4, 9, tzinfo=UTC)) == versions[1]  # 30 days
    assert version_for(versions, JAN - timedelta(days=1)) is None
