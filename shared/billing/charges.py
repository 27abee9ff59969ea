"""What a closed cycle charges: the period, the plan's line, the upgrades' pro-rated lines, the usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from shared.billing.models import InvoiceLine, LineKind
from shared.billing.vat import cents
from shared.partners.plans import PlanCatalogue, version_for
from shared.partners.subscription import BillingCycle, Subscription, SubscriptionState, add_months, advance
from shared.usage import TENANT_DAYS, Unit

# Cents per metered unit, excluding VAT (fractions of a cent are rounded once, per line).
# Tenants are included in the plan: the line shows the tenant-days at no charge.
USAGE_PRICES: dict[str, tuple[str, Decimal]] = {
    TENANT_DAYS: ("Tenants under management (tenant-days, included in the plan)", Decimal("0")),
    Unit.API_CALLS.value: ("API calls", Decimal("0.01")),
    Unit.NOTIFICATIONS_SENT.value: ("Push notifications sent", Decimal("0.05")),
    Unit.DEVICES_REGISTERED.value: ("Devices registered", Decimal("10")),
    Unit.SUBJECT_REQUESTS_HANDLED.value: ("Data-subject requests handled", Decimal("250")),
}


@dataclass(frozen=True)
class Period:
    """A completed cycle and the subscription as it stood at its end (plan, cycle, adjustments)."""

    start: datetime
    end: datetime
    subscription: Subscription


def last_completed_period(sub: Subscription, now: datetime) -> Period | None:
    """The latest cycle that ended at or before `now`, or None while the first is still running."""
    current = advance(sub, now)
    if current.state is SubscriptionState.TERMINATED:
        # Termination stops the roll-over: the current period is the last one, and it has ended.
        return Period(current.current_period_start, current.current_period_end, current)
    if current.cycles_completed == 0:
        return None
    end = current.current_period_start
    prior = advance(sub, end - timedelta(microseconds=1))
    if prior.current_period_end == end:
        return Period(prior.current_period_start, end, prior)
    # The stored subscription was saved after `end` already: its anchor still gives the start.
    index = current.cycles_completed - 1
    anchor = current.cycle_anchor_at or current.started_at
    if index >= current.cycle_anchor_count:
        start = add_months(anchor, (index - current.cycle_anchor_count) * current.billing_cycle.months)
    else:  # the billing cycle changed at `end`: the ended cycle had the other length
        other = BillingCycle.ANNUAL if current.billing_cycle is BillingCycle.MONTHLY else BillingCycle.MONTHLY
        start = add_months(end, -other.months)
    return Period(start, end, current)


def plan_lines(period: Period, catalogue: PlanCatalogue) -> list[InvoiceLine]:
    """The plan the cycle started on (before any upgrade), and each upgrade's pro-rated difference."""
    sub = period.subscription
    adjustments = [a for a in sub.adjustments if period.start <= a.at < period.end]
    plan_id = adjustments[0].from_plan if adjustments else sub.plan
    version = version_for(catalogue.list_versions(plan_id), period.start)
    price = version.price_cents(sub.billing_cycle) if version is not None else 0
    name = version.display_name if version is not None else plan_id
    description = f"{name} plan ({sub.billing_cycle.value}), {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}"
    amount = price
    if sub.trial_ends_at is not None and sub.trial_ends_at > period.start:
        # Only the part of the cycle after the trial is paid for.
        paid = max(0.0, (period.end - max(period.start, sub.trial_ends_at)).total_seconds())
        whole = (period.end - period.start).total_seconds()
        amount = cents(Decimal(price) * Decimal(str(paid)) / Decimal(str(whole)))
        description += f", trial until {sub.trial_ends_at:%Y-%m-%d}"
    lines = [
        InvoiceLine(
            kind=LineKind.PLAN,
            description=description,
            quantity=1,
            unit_price_cents=str(amount),
            amount_cents=amount,
        )
    ]
    for adjustment in adjustments:
        lines.append(
            InvoiceLine(
                kind=LineKind.ADJUSTMENT,
                description=f"{adjustment.description} ({adjustment.period_start:%Y-%m-%d} to "
                f"{adjustment.period_end:%Y-%m-%d})",
                quantity=1,
                unit_price_cents=str(adjustment.amount_cents),
                amount_cents=adjustment.amount_cents,
            )
        )
    return lines


def usage_lines(totals: dict[str, int]) -> list[InvoiceLine]:
    """One line per metered unit, its quantity exactly the meter's sum for the cycle."""
    return [
        InvoiceLine(
            kind=LineKind.USAGE,
            description=description,
            unit=unit,
            quantity=int(totals.get(unit, 0)),
            unit_price_cents=str(price),
            amount_cents=usage_amount(unit, int(totals.get(unit, 0))),
        )
        for unit, (description, price) in USAGE_PRICES.items()
    ]


def usage_amount(unit: str, quantity: int) -> int:
    return cents(USAGE_PRICES[unit][1] * quantity)
