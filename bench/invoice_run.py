"""Closing a billing cycle for many partners at once, against a private Azurite.

Creates N partners (on two plans, one in four upgraded mid-cycle) with metered usage in their first
cycle, moves the clock past the cycle's end and closes every partner's cycle with T threads (the
timer's work, spread as a fleet of instances would). Then checks each invoice against the meter:
every usage line's quantity equals the meter's sum for the cycle, every line's amount its units
times the price, the subtotal the sum of the lines and the total subtotal plus VAT; and the series
has no gap. The last line is `invoices_per_s`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localdev.stack import start_test_azurite

START = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:  # noqa: PLR0915 - one linear script: set up, run, check, report
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partners", type=int, default=2000, help="partners whose cycle is closed")
    parser.add_argument("--threads", type=int, default=16, help="closes running at once")
    args = parser.parse_args()

    azurite, env = start_test_azurite()
    os.environ.update(env)
    try:
        from shared.access.principals import Actor
        from shared.audit.context import ActionContext
        from shared.billing.charges import usage_amount
        from shared.billing.invoices import TABLE, InvoiceService
        from shared.billing.models import InvoiceOut, LineKind
        from shared.billing.numbering import series_partition
        from shared.keys import pepper_ring
        from shared.partners.directory import PartnerDirectory
        from shared.partners.models import PartnerIn, PlanChangeIn
        from shared.partners.plans import PlanIn
        from shared.partners.service import PartnerService
        from shared.settings import get_settings
        from shared.storage import tables
        from shared.storage.router import StorageRouter
        from shared.usage import Unit, UsageMeter

        class Clock:
            def __init__(self, moment: datetime):
                self.moment = moment

            def now(self) -> datetime:
                return self.moment

        router = StorageRouter(get_settings())
        account = router.region("eu")
        operator = ActionContext(Actor("operator", "bench"))
        setup_clock = Clock(START)
        service = PartnerService(router, PartnerDirectory(router), setup_clock, pepper_ring("bench-pepper"))
        for plan_id, name, euros in (("basic", "Basic", 100), ("pro", "Pro", 300)):
            body = {"displayName": name, "tenantLimit": 50, "monthlyPriceCents": euros * 100}
            service.plans.create_version(
                plan_id, PlanIn.model_validate({**body, "annualPriceCents": euros * 1000}), operator
            )
        meter = UsageMeter(account, setup_clock)

        def create(index: int) -> str:
            return _again_on_reset(lambda: _create(index))

        def _create(index: int) -> str:
            body = PartnerIn.model_validate(
                {
                    "displayName": f"Bench partner {index}",
                    "region": "eu",
                    "entraTenantId": str(uuid.uuid4()),
                    "contact": {"name": "Bench", "email": "bench@bench.example"},
                    "subscription": {"plan": "basic", "tenantLimit": 50, "billingCycle": "monthly"},
                }
            )
            partner = service.create(body, operator)
            meter.record_many(partner.id, Unit.API_CALLS, [f"c{i}" for i in range(index % 500 + 1)])
            meter.record_many(partner.id, Unit.NOTIFICATIONS_SENT, [f"n{i}" for i in range(index % 37)])
            meter.record_many(partner.id, Unit.DEVICES_REGISTERED, [f"d{i}" for i in range(index % 3)])
            if index % 4 == 0:
                service.change_plan(
                    service.get(partner.id), PlanChangeIn.model_validate({"plan": "pro"}), operator
                )
            return partner.id

        # Set-up runs on one clock reading per phase: partners all start on START.
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            partner_ids = list(pool.map(create, range(args.partners)))
        print(f"set up {len(partner_ids)} partners with usage in {time.perf_counter() - started:.1f} s")

        close_clock = Clock(START + timedelta(days=31, hours=2))
        fresh = PartnerService(router, PartnerDirectory(router), close_clock, pepper_ring("bench-pepper"))

        def close(partner_id: str) -> InvoiceOut:
            return _again_on_reset(lambda: _close(partner_id))  # closing is idempotent

        def _close(partner_id: str) -> InvoiceOut:
            partner = fresh.get(partner_id)
            invoices = InvoiceService(account, partner, fresh, close_clock, grace=timedelta(days=14))
            invoice = invoices.close_cycle(operator)
            assert invoice is not None
            return invoice

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            invoices = list(pool.map(close, partner_ids))
        elapsed = time.perf_counter() - started
        rate = len(invoices) / elapsed
        print(f"closed {len(invoices)} cycles with {args.threads} threads in {elapsed:.1f} s")

        wrong = []
        for invoice in invoices:
            totals = meter.get_totals(invoice.partner_id, start=invoice.period_start, end=invoice.period_end)
            usage = {line.unit: line for line in invoice.lines if line.kind is LineKind.USAGE}
            ok = invoice.usage == totals
            ok &= all(line.quantity == totals[unit] for unit, line in usage.items() if unit is not None)
            ok &= all(
                line.amount_cents == usage_amount(unit, totals[unit]) for unit, line in usage.items() if unit
            )
            ok &= invoice.subtotal_cents == sum(line.amount_cents for line in invoice.lines)
            ok &= invoice.total_cents == invoice.subtotal_cents + invoice.vat.amount_cents
            if not ok:
                wrong.append(invoice.number)
        rows = tables.query(account.table(TABLE), tables.partition(series_partition("eu")))
        numbers = sorted(int(str(r["RowKey"])[2:]) for r in rows if str(r["RowKey"]).startswith("n~"))
        gapless = numbers == list(range(1, len(invoices) + 1))
        upgraded = sum(any(line.kind is LineKind.ADJUSTMENT for line in i.lines) for i in invoices)
        print(f"invoices with a pro-rated upgrade line: {upgraded}")
        print(
            f"totals equal to the sum of their metered units: {len(invoices) - len(wrong)} of {len(invoices)}"
        )
        print(f"numbers 1..{len(numbers)} without gaps: {'yes' if gapless else 'NO'}")
        if wrong or not gapless:
            print(f"MISMATCH: {wrong[:10]}")
        print(f"connection resets by Azurite, work done again: {len(RESETS)}")
        print(f"invoices_per_s: {rate:.1f}")
    finally:
        azurite.stop()


T = TypeVar("T")


def _again_on_reset(work: Callable[[], T]) -> T:
    """Azurite under this load now and then resets a connection mid-request (a MERGE or POST the SDK
    does not retry); the bench does the work again, as a timer's next run would."""
    from azure.core.exceptions import ServiceResponseError

    for attempt in range(3):
        try:
            return work()
        except ServiceResponseError:
            RESETS.append(1)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


RESETS: list[int] = []


if __name__ == "__main__":
    main()
