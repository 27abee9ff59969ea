"""Subscription lifecycle: changes wait for the next cycle, read-only states refuse writes."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.partners import subscription as subs
from shared.partners.subscription import BillingCycle, SubscriptionState

START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def test_month_arithmetic_clamps_to_month_end_without_drifting() -> None:
    sub = subs.new_subscription("standard", 10, BillingCycle.MONTHLY, None, START)
    assert sub.current_period_end == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    later = subs.advance(sub, datetime(2026, 4, 1, tzinfo=UTC))
    # Anchored on Jan 31: March's period ends Mar 31, not Mar 28.
    assert later.current_period_end == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    assert later.current_period_start == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)


def test_plan_change_is_pending_until_the_next_cycle() -> None:
    sub = subs.new_subscription("standard", 10, BillingCycle.MONTHLY, None, START)
    changed = subs.schedule_change(sub, "premium", 50)
    assert (changed.plan, changed.tenant_limit) == ("standard", 10)
    assert changed.pending_change is not None
    assert changed.pending_change.effective_at == sub.current_period_end
    before = subs.advance(changed, sub.current_period_end - timedelta(seconds=1))
    assert (before.plan, before.tenant_limit) == ("standard", 10)
    after = subs.advance(changed, sub.current_period_end)
    assert (after.plan, after.tenant_limit, after.pending_change) == ("premium", 50, None)


def test_annual_cycle_waits_a_year() -> None:
    sub = subs.schedule_change(subs.new_subscription("s", 10, BillingCycle.ANNUAL, None, START), None, 99)
    assert subs.advance(sub, START + timedelta(days=364)).tenant_limit == 10
    assert subs.advance(sub, START + timedelta(days=366)).tenant_limit == 99


def test_termination_takes_effect_at_cycle_end_with_deletion_schedule() -> None:
    sub = subs.schedule_termination(subs.new_subscription("s", 10, BillingCycle.MONTHLY, None, START))
    end = datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert sub.termination_effective_at == end
    assert sub.deletion_schedule is not None
    assert sub.deletion_schedule.end_user_data_at == end
    assert sub.deletion_schedule.personnel_data_at == datetime(2028, 2, 28, 9, 0, tzinfo=UTC)
    assert subs.advance(sub, end - timedelta(seconds=1)).state is SubscriptionState.ACTIVE
    ended = subs.advance(sub, end)
    assert ended.state is SubscriptionState.TERMINATED
    assert subs.write_refusal(ended, end) is not None
    with pytest.raises(Exception, match="terminating"):
        subs.schedule_change(sub, "premium", None)


@pytest.mark.parametrize(
    ("state", "status", "kind"),
    [
        (SubscriptionState.PAST_DUE, 402, "subscription-past-due"),
        (SubscriptionState.TERMINATED, 403, "subscription-terminated"),
    ],
)
def test_read_only_states_have_distinct_problems(state: SubscriptionState, status: int, kind: str) -> None:
    sub = subs.new_subscription("s", 10, BillingCycle.MONTHLY, None, START).model_copy(
        update={"state": state}
    )
    refusal = subs.write_refusal(sub, START)
    assert refusal is not None and (refusal.status, refusal.kind) == (status, kind)


def test_trial_is_writable_until_it_ends_then_read_only() -> None:
    sub = subs.new_subscription("s", 10, BillingCycle.MONTHLY, 14, START)
    assert sub.state is SubscriptionState.TRIAL
    assert subs.write_refusal(sub, START + timedelta(days=13, hours=23)) is None
    refusal = subs.write_refusal(sub, START + timedelta(days=14))
    assert refusal is not None and (refusal.status, refusal.kind) == (402, "subscription-trial-expired")
    assert (
        subs.write_refusal(subs.set_state(sub, SubscriptionState.ACTIVE), START + timedelta(days=30)) is None
    )
