"""Subscription lifecycle: trial -> active -> past_due -> terminated, changes at the next cycle."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from enum import StrEnum

from shared.errors import ProblemError
from shared.models import ApiModel, UtcDateTime

# Personnel data stays this long after the subscription ends (the retention table).
PERSONNEL_RETENTION_MONTHS = 24


class SubscriptionState(StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    TERMINATED = "terminated"


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is BillingCycle.MONTHLY else 12


class TerminationChoice(StrEnum):
    """What the partner chose for its data at the end of the service (the terms' three options).

    `delete`: the retention rules remove the data at the deletion schedule's dates (the default,
    and what termination always did). `return`: a data-return package of everything is built at
    once and can be rebuilt until the end-user data goes. `anonymise`: the same package with every
    personal field replaced by a pseudonym that nothing can reverse (shared/privacy/data_return.py);
    the data itself then goes as for `delete`.
    """

    DELETE = "delete"
    ANONYMISE = "anonymise"
    RETURN = "return"


class PendingChange(ApiModel):
    plan: str | None = None
    tenant_limit: int | None = None
    billing_cycle: BillingCycle | None = None
    effective_at: UtcDateTime


class Adjustment(ApiModel):
    """A charge the next invoice carries for a change made mid-cycle (an upgrade, pro-rated)."""

    at: UtcDateTime
    description: str
    from_plan: str
    to_plan: str
    period_start: UtcDateTime
    period_end: UtcDateTime
    amount_cents: int


class DeletionSchedule(ApiModel):
    """What termination sets in motion; the privacy sweeps carry it out."""

    end_user_data_at: UtcDateTime
    personnel_data_at: UtcDateTime


class Subscription(ApiModel):
    plan: str
    tenant_limit: int
    billing_cycle: BillingCycle
    state: SubscriptionState
    started_at: UtcDateTime
    trial_ends_at: UtcDateTime | None = None
    cycles_completed: int = 0
    current_period_start: UtcDateTime
    current_period_end: UtcDateTime
    pending_change: PendingChange | None = None
    adjustments: list[Adjustment] = []
    # Where cycles are counted from since the last change of billing cycle (None: `started_at`).
    cycle_anchor_at: UtcDateTime | None = None
    cycle_anchor_count: int = 0
    termination_effective_at: UtcDateTime | None = None
    terminated_at: UtcDateTime | None = None
    deletion_schedule: DeletionSchedule | None = None
    termination_choice: TerminationChoice | None = None
    # The data-return package started with the choice (its status: .../data-returns/{id}).
    data_return_id: str | None = None


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _period_end(sub: Subscription, cycles: int) -> datetime:
    # From the anchor, never from the previous end, so month-end clamping does not drift.
    anchor = sub.cycle_anchor_at or sub.started_at
    return add_months(anchor, (cycles - sub.cycle_anchor_count + 1) * sub.billing_cycle.months)


def new_subscription(
    plan: str, tenant_limit: int, cycle: BillingCycle, trial_days: int | None, now: datetime
) -> Subscription:
    sub = Subscription(
        plan=plan,
        tenant_limit=tenant_limit,
        billing_cycle=cycle,
        state=SubscriptionState.TRIAL if trial_days else SubscriptionState.ACTIVE,
        started_at=now,
        trial_ends_at=now + timedelta(days=trial_days) if trial_days else None,
        current_period_start=now,
        current_period_end=now,
    )
    sub.current_period_end = _period_end(sub, 0)
    return sub


def advance(sub: Subscription, now: datetime) -> Subscription:
    """The subscription as of `now`: completed cycles roll over, applying what was scheduled."""
    sub = sub.model_copy(deep=True)
    while sub.state is not SubscriptionState.TERMINATED and now >= sub.current_period_end:
        boundary = sub.current_period_end
        if sub.termination_effective_at is not None and sub.termination_effective_at <= boundary:
            sub.state = SubscriptionState.TERMINATED
            sub.terminated_at = sub.termination_effective_at
            sub.pending_change = None
            break
        if sub.pending_change is not None and sub.pending_change.effective_at <= boundary:
            sub.plan = sub.pending_change.plan or sub.plan
            if sub.pending_change.tenant_limit is not None:
                sub.tenant_limit = sub.pending_change.tenant_limit
            cycle = sub.pending_change.billing_cycle
            if cycle is not None and cycle is not sub.billing_cycle:
                sub.billing_cycle = cycle
                sub.cycle_anchor_at, sub.cycle_anchor_count = boundary, sub.cycles_completed + 1
            sub.pending_change = None
        sub.cycles_completed += 1
        sub.current_period_start = boundary
        sub.current_period_end = _period_end(sub, sub.cycles_completed)
    return sub


def schedule_change(
    sub: Subscription, plan: str | None, tenant_limit: int | None, billing_cycle: BillingCycle | None = None
) -> Subscription:
    refuse_if_terminating(sub)
    sub = sub.model_copy(deep=True)
    current = sub.pending_change
    sub.pending_change = PendingChange(
        plan=plan if plan is not None else (current.plan if current else None),
        tenant_limit=tenant_limit
        if tenant_limit is not None
        else (current.tenant_limit if current else None),
        billing_cycle=billing_cycle
        if billing_cycle is not None
        else (current.billing_cycle if current else None),
        effective_at=sub.current_period_end,
    )
    return sub


def upgrade_now(
    sub: Subscription, plan: str, tenant_limit: int, *, price_now: int, price_new: int, now: datetime
) -> Subscription:
    """The new plan at once; the difference for the rest of the paid cycle is an adjustment the next
    invoice carries (none during a trial: nothing was paid). A scheduled plan change is dropped."""
    refuse_if_terminating(sub)
    sub = sub.model_copy(deep=True)
    start, end = sub.current_period_start, sub.current_period_end
    if sub.state is not SubscriptionState.TRIAL and price_new > price_now:
        left = (end - now).total_seconds() / (end - start).total_seconds()
        amount = round((price_new - price_now) * max(0.0, min(1.0, left)))
        sub.adjustments.append(
            Adjustment(
                at=now,
                description=f"Upgrade from {sub.plan} to {plan}, pro-rated for the rest of the cycle",
                from_plan=sub.plan,
                to_plan=plan,
                period_start=now,
                period_end=end,
                amount_cents=amount,
            )
        )
    sub.plan, sub.tenant_limit = plan, tenant_limit
    if sub.pending_change is not None:
        sub.pending_change.plan = sub.pending_change.tenant_limit = None
        if sub.pending_change.billing_cycle is None:
            sub.pending_change = None
    return sub


def schedule_termination(
    sub: Subscription, choice: TerminationChoice | None = None, data_return_id: str | None = None
) -> Subscription:
    refuse_if_terminating(sub)
    sub = sub.model_copy(deep=True)
    sub.termination_choice = choice
    sub.data_return_id = data_return_id
    ends = sub.current_period_end
    sub.termination_effective_at = ends
    # Recorded now so the promise is on file from the moment it is made.
    sub.deletion_schedule = DeletionSchedule(
        end_user_data_at=ends, personnel_data_at=add_months(ends, PERSONNEL_RETENTION_MONTHS)
    )
    return sub


def refuse_if_terminating(sub: Subscription) -> None:
    if sub.state is SubscriptionState.TERMINATED or sub.termination_effective_at is not None:
        raise ProblemError(
            409,
            "subscription-terminating",
            "The subscription is ending.",
            "A terminated or terminating subscription cannot be changed.",
        )


def set_state(sub: Subscription, state: SubscriptionState) -> Subscription:
    """Billing moves a subscription between active and past_due; a trial becomes active once paid."""
    if sub.state is SubscriptionState.TERMINATED:
        refuse_if_terminating(sub)
    if state not in (SubscriptionState.ACTIVE, SubscriptionState.PAST_DUE):
        raise ProblemError(
            422,
            "invalid-state-change",
            "Invalid state change.",
            "Only active and past_due can be set; termination has its own call.",
        )
    sub = sub.model_copy(deep=True)
    sub.state = state
    return sub


def write_refusal(sub: Subscription, now: datetime) -> ProblemError | None:
    """Why a partner may not write now, or None. Read-only subscriptions still read."""
    if sub.state is SubscriptionState.TERMINATED:
        return ProblemError(
            403,
            "subscription-terminated",
            "The subscription has ended.",
            "This partner's subscription is terminated; data is read-only until deleted.",
        )
    if sub.state is SubscriptionState.PAST_DUE:
        return ProblemError(
            402,
            "subscription-past-due",
            "Payment is overdue.",
            "The subscription is past due and read-only until paid.",
        )
    if sub.state is SubscriptionState.TRIAL and sub.trial_ends_at is not None and now >= sub.trial_ends_at:
        return ProblemError(
            402,
            "subscription-trial-expired",
            "The trial has ended.",
            "The trial is over; the subscription is read-only until activated.",
        )
    return None
