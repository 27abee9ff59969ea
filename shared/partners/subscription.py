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


class PendingChange(ApiModel):
    plan: str | None = None
    tenant_limit: int | None = None
    effective_at: UtcDateTime


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
    termination_effective_at: UtcDateTime | None = None
    terminated_at: UtcDateTime | None = None
    deletion_schedule: DeletionSchedule | None = None


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _period_end(sub: Subscription, cycles: int) -> datetime:
    # From the anchor, never from the previous end, so month-end clamping does not drift.
    return add_months(sub.started_at, (cycles + 1) * sub.billing_cycle.months)


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
            sub.pending_change = None
        sub.cycles_completed += 1
        sub.current_period_start = boundary
        sub.current_period_end = _period_end(sub, sub.cycles_completed)
    return sub


def schedule_change(sub: Subscription, plan: str | None, tenant_limit: int | None) -> Subscription:
    refuse_if_terminating(sub)
    sub = sub.model_copy(deep=True)
    current = sub.pending_change
    sub.pending_change = PendingChange(
        plan=plan if plan is not None else (current.plan if current else None),
        tenant_limit=tenant_limit
        if tenant_limit is not None
        else (current.tenant_limit if current else None),
        effective_at=sub.current_period_end,
    )
    return sub


def schedule_termination(sub: Subscription) -> Subscription:
    refuse_if_terminating(sub)
    sub = sub.model_copy(deep=True)
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
