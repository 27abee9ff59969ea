"""Invoices on a moved clock, against a private Azurite: the plan, pro-rated upgrades and metered usage
on one invoice, VAT by the partner's country, gap-free numbers under concurrent closing, credit notes,
the PDF, the past-due rule and the invoices' retention."""

from __future__ import annotations

import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from localdev.partner_seed import seed_partner
from shared.alerts.rules import evaluate
from shared.audit.log import AuditLog, EventFilter
from shared.billing.charges import last_completed_period
from shared.billing.invoices import TABLE, InvoiceService, close_region, partner_ids_in
from shared.billing.models import CreditNoteIn, InvoiceKind, InvoiceStatus, LineKind
from shared.billing.numbering import series_partition
from shared.billing.pdf import money
from shared.billing.retention import InvoiceRecords
from shared.billing.vat import ISSUERS, VatTreatment, decide_vat
from shared.errors import ProblemError
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import AdministrationPatch, PartnerIn, PlanChangeIn
from shared.partners.plans import PlanIn
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import SubscriptionState, advance, write_refusal
from shared.privacy.retention import AdministrationRecords, RetentionRegistry, RetentionSweeper
from shared.storage import tables
from shared.storage.router import StorageRouter
from shared.tenants.metering import record_daily_tenants
from shared.usage import Unit, UsageMeter
from tests.clocks import MovableClock
from tests.integration.rigs import ACTION, OPERATOR, PEPPER

GRACE = timedelta(days=7)
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def _plan(name: str, tenants: int, monthly_euros: int) -> PlanIn:
    return PlanIn.model_validate(
        {
            "displayName": name,
            "tenantLimit": tenants,
            "monthlyPriceCents": monthly_euros * 100,
            "annualPriceCents": monthly_euros * 1000,
        }
    )


class World:
    """Two plans of this test's own and a partner on the cheaper one, from `start`."""

    def __init__(self, router: StorageRouter, start: datetime = JAN, region: str = "eu"):
        self.router = router
        self.clock = MovableClock(start)
        self.service = PartnerService(
            router, PartnerDirectory(router), self.clock, pepper_ring(PEPPER), tenant_count=lambda p: 0
        )
        suffix = uuid.uuid4().hex[:8]
        self.basic, self.pro = f"basic-{suffix}", f"pro-{suffix}"
        self.service.plans.create_version(self.basic, _plan("Basic", 10, 100), OPERATOR)
        self.service.plans.create_version(self.pro, _plan("Pro", 50, 300), OPERATOR)
        self.partner_id = self.add_partner(region)

    def add_partner(self, region: str = "eu") -> str:
        body = PartnerIn.model_validate(
            {
                "displayName": "Invoiced IT",
                "region": region,
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Ana Li", "email": "ana@invoiced.example"},
                "subscription": {"plan": self.basic, "tenantLimit": 10, "billingCycle": "monthly"},
            }
        )
        return self.service.create(body, OPERATOR).id

    def partner(self, partner_id: str | None = None) -> Partner:
        self.service._cache.clear()  # the clock moves faster than the cache's seconds
        return self.service.get(partner_id or self.partner_id)

    def invoices(self, partner_id: str | None = None) -> InvoiceService:
        partner = self.partner(partner_id)
        return InvoiceService(
            self.router.region(partner.region), partner, self.service, self.clock, grace=GRACE
        )

    def meter(self) -> UsageMeter:
        return UsageMeter(self.router.region("eu"), self.clock)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def _credit(reason: str, **how: object) -> CreditNoteIn:
    return CreditNoteIn.model_validate({"reason": reason, **how})


def _numbers(router: StorageRouter, region: str = "eu") -> list[int]:
    rows = tables.query(router.region(region).table(TABLE), tables.partition(series_partition(region)))
    return sorted(int(str(r["RowKey"])[2:]) for r in rows if str(r["RowKey"]).startswith("n~"))


def test_an_upgrade_mid_cycle_shows_a_pro_rated_line_beside_the_plan_and_the_metered_usage(
    router: StorageRouter,
) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 1, 16, 12, tzinfo=UTC)  # half of January's 31 days left
    world.service.change_plan(world.partner(), PlanChangeIn.model_validate({"plan": world.pro}), ACTION)
    meter = world.meter()
    meter.record_many(world.partner_id, Unit.API_CALLS, [f"call-{i}" for i in range(1234)])
    meter.record_many(world.partner_id, Unit.NOTIFICATIONS_SENT, [f"push-{i}" for i in range(41)])
    meter.record(world.partner_id, Unit.API_CALLS, key="call-7")  # a retry counts once

    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    meter.record(world.partner_id, Unit.API_CALLS, key="february")  # the next cycle's, not this one's
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    assert (invoice.period_start, invoice.period_end) == (JAN, datetime(2026, 2, 1, tzinfo=UTC))
    by_kind = {line.kind: line for line in invoice.lines}
    assert by_kind[LineKind.PLAN].amount_cents == 10000  # the cycle started on Basic
    assert "Basic" in by_kind[LineKind.PLAN].description
    assert by_kind[LineKind.ADJUSTMENT].amount_cents == 10000  # (300 - 100) x half the cycle
    assert "Upgrade" in by_kind[LineKind.ADJUSTMENT].description
    usage = {line.unit: line for line in invoice.lines if line.kind is LineKind.USAGE}
    assert usage[Unit.API_CALLS.value].quantity == 1234
    assert usage[Unit.API_CALLS.value].amount_cents == 12  # 1234 x 0.01 cent, rounded once
    assert usage[Unit.NOTIFICATIONS_SENT.value].quantity == 41
    assert invoice.usage == meter.get_totals(world.partner_id, start=JAN, end=invoice.period_end)
    subtotal = 10000 + 10000 + 12 + 2
    assert invoice.subtotal_cents == sum(line.amount_cents for line in invoice.lines) == subtotal
    # No billing details on file: the issuer's domestic VAT.
    assert (invoice.vat.treatment, invoice.vat.amount_cents) == (
        "domestic",
        round(Decimal(subtotal) * Decimal("0.21")),
    )
    assert invoice.total_cents == subtotal + invoice.vat.amount_cents
    assert invoice.status is InvoiceStatus.OPEN and invoice.number.startswith("EU-")
    assert invoice.due_at == invoice.issued_at + timedelta(days=14)
    # Issuing raised the event the partner's alert subscriptions read.
    events, _ = AuditLog(router.region("eu"), world.clock).list(
        world.partner_id, EventFilter(action="invoice.issued"), 10, None
    )
    assert [e["target"]["id"] for e in events] == [invoice.id]
    assert events[0]["details"]["totalCents"] == invoice.total_cents
    (alert,) = evaluate(world.partner_id, events[0]).alerts
    assert (alert.type, alert.link) == (
        "invoice.issued",
        f"/api/partners/{world.partner_id}/invoices/{invoice.id}",
    )
    assert invoice.number in alert.title


def test_vat_follows_the_partners_country_and_status() -> None:
    eu, us = ISSUERS["eu"], ISSUERS["us"]
    assert decide_vat(eu, country="NL", business=True, vat_number="NL123456789B01").rate == Decimal("21")
    reverse = decide_vat(eu, country="DE", business=True, vat_number="DE123456789")
    assert (reverse.treatment, reverse.rate) == (VatTreatment.REVERSE_CHARGE, 0)
    assert "DE123456789" in reverse.note
    assert decide_vat(eu, country="DE", business=True, vat_number=None).treatment is VatTreatment.DOMESTIC
    assert decide_vat(eu, country="DE", business=False, vat_number="DE1").treatment is VatTreatment.DOMESTIC
    assert (
        decide_vat(eu, country="CH", business=True, vat_number=None).treatment is VatTreatment.OUTSIDE_SCOPE
    )
    assert decide_vat(us, country="NL", business=True, vat_number=None).treatment is VatTreatment.NONE


def test_a_business_in_another_member_state_is_reverse_charged_and_named_with_its_details(
    router: StorageRouter,
) -> None:
    world = World(router)
    fields = AdministrationPatch.model_validate(
        {
            "legalName": "Invoiced GmbH",
            "address": {"line1": "Hauptstrasse 1", "postalCode": "10115", "city": "Berlin", "country": "DE"},
            "vatNumber": "DE123456789",
            "chamberOfCommerceNumber": "HRB 12345",
        }
    )
    world.service.update_administration(world.partner(), fields, ACTION)
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    assert invoice.vat.treatment == "reverseCharge" and invoice.vat.amount_cents == 0
    assert invoice.total_cents == invoice.subtotal_cents == 10000
    assert (invoice.customer.name, invoice.customer.vat_number) == ("Invoiced GmbH", "DE123456789")
    assert invoice.customer.chamber_of_commerce == "HRB 12345"
    assert invoice.customer.address == "Hauptstrasse 1, 10115 Berlin"
    assert invoice.issuer.vat_number == ISSUERS["eu"].vat_number


def test_closing_a_cycle_twice_or_at_once_from_many_threads_issues_one_invoice(router: StorageRouter) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 1, 20, tzinfo=UTC)
    assert world.invoices().close_cycle(ACTION) is None  # the first cycle is still running
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    before = _numbers(router)
    with ThreadPoolExecutor(8) as pool:
        closed = list(pool.map(lambda _: world.invoices().close_cycle(ACTION), range(8)))
    assert len({invoice.id for invoice in closed if invoice is not None}) == 1
    assert len({invoice.number for invoice in closed if invoice is not None}) == 1
    again = world.invoices().close_cycle(ACTION)
    assert again is not None and again.id == closed[0].id  # type: ignore[union-attr]
    assert len(world.invoices().list_invoices(100, None).items) == 1
    assert len(_numbers(router)) == len(before) + 1


def test_numbers_have_no_gaps_or_repeats_when_partners_close_concurrently(router: StorageRouter) -> None:
    world = World(router)
    partner_ids = [world.partner_id] + [world.add_partner() for _ in range(11)]
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    before = _numbers(router)
    with ThreadPoolExecutor(8) as pool:
        invoices = list(pool.map(lambda pid: world.invoices(pid).close_cycle(ACTION), partner_ids * 2))
    issued = {invoice.number for invoice in invoices if invoice is not None}
    assert len(issued) == 12
    numbers = _numbers(router)
    assert numbers == list(range(1, len(numbers) + 1))  # the whole series: 1..n, nothing skipped
    assert len(numbers) == len(before) + 12
    assert sorted(int(n.rsplit("-", 1)[1]) for n in issued) == numbers[len(before) :]


def test_a_draft_a_crash_left_numbered_is_issued_with_that_number_by_the_next_close(
    router: StorageRouter,
) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    service = world.invoices()
    # The first two steps of a close, then the instance dies before the invoice is marked issued.
    period = last_completed_period(service.partner.subscription, world.clock.now())
    assert period is not None
    draft = service._draft("cycle~20260201T000000000000", service._document(period))
    taken = service.numbers.claim(world.partner_id, draft)
    with pytest.raises(ProblemError):
        service.get_invoice(draft)  # a draft is nobody's invoice yet
    assert world.invoices().list_invoices(100, None).items == []
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None and invoice.id == draft
    assert int(invoice.number.rsplit("-", 1)[1]) == taken
    assert _numbers(router) == list(range(1, len(_numbers(router)) + 1))


def test_a_credit_note_corrects_an_issued_invoice_with_its_own_number(router: StorageRouter) -> None:
    world = World(router)
    world.meter().record_many(world.partner_id, Unit.DEVICES_REGISTERED, ["d1", "d2", "d3"])
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    note = world.invoices().create_credit_note(invoice.id, _credit("Devices billed twice"), OPERATOR)
    assert note.kind is InvoiceKind.CREDIT_NOTE and note.id != invoice.id
    assert (note.credits_invoice_id, note.credits_number) == (invoice.id, invoice.number)
    assert note.total_cents == -invoice.total_cents and note.vat.amount_cents == -invoice.vat.amount_cents
    assert [line.amount_cents for line in note.lines] == [-line.amount_cents for line in invoice.lines]
    assert note.subtotal_cents == sum(line.amount_cents for line in note.lines)
    assert int(note.number.rsplit("-", 1)[1]) > int(invoice.number.rsplit("-", 1)[1])
    # The invoice keeps what it said; only its status tells it was corrected.
    corrected = world.invoices().get_invoice(invoice.id)
    assert corrected.status is InvoiceStatus.VOID
    assert (corrected.credited_cents, corrected.credit_note_ids) == (invoice.total_cents, [note.id])
    what_it_said = {"status", "status_changed_at", "credited_cents", "credit_note_ids"}
    assert corrected.model_dump(exclude=what_it_said) == invoice.model_dump(exclude=what_it_said)
    assert world.invoices().create_credit_note(invoice.id, _credit("again"), OPERATOR).id == note.id  # once
    with pytest.raises(ProblemError) as refused:
        world.invoices().update_status(invoice.id, InvoiceStatus.OPEN, OPERATOR)
    assert refused.value.status == 409
    with pytest.raises(ProblemError):
        world.invoices().create_credit_note(note.id, _credit("a credit of a credit"), OPERATOR)
    listed = world.invoices().list_invoices(100, None).items
    assert [i.id for i in listed] == [invoice.id, note.id]


def test_the_pdf_shows_the_number_the_lines_and_the_totals(router: StorageRouter) -> None:
    world = World(router)
    world.meter().record_many(world.partner_id, Unit.API_CALLS, [f"c{i}" for i in range(250)])
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    pdf = world.invoices().render_pdf(invoice.id)
    assert pdf.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert f"Invoice {invoice.number}" in text
    assert "Tenantry B.V." in text and "Invoiced IT" in text
    assert money(invoice.subtotal_cents, "EUR") in text  # EUR 100.03
    assert money(invoice.vat.amount_cents, "EUR") in text
    assert f"Total {money(invoice.total_cents, 'EUR')}" in text.replace("\n", " ")
    assert "API calls" in text and "250" in text
    note = world.invoices().create_credit_note(invoice.id, _credit("Goodwill"), OPERATOR)
    note_text = PdfReader(io.BytesIO(world.invoices().render_pdf(note.id))).pages[0].extract_text()
    assert f"Credit note {note.number}" in note_text
    assert f"Corrects invoice {invoice.number}" in note_text
    assert money(note.total_cents, "EUR") in note_text  # negative


def test_an_invoice_open_past_due_and_grace_makes_the_subscription_read_only_until_paid(
    router: StorageRouter,
) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    world.clock.moment = invoice.due_at + GRACE - timedelta(minutes=1)
    assert world.invoices().enforce_past_due(ACTION) is False
    assert write_refusal(advance(world.partner().subscription, world.clock.now()), world.clock.now()) is None

    world.clock.moment = invoice.due_at + GRACE + timedelta(minutes=1)
    assert world.invoices().enforce_past_due(ACTION) is True
    now = world.clock.now()
    sub = advance(world.partner().subscription, now)
    assert sub.state is SubscriptionState.PAST_DUE
    refusal = write_refusal(sub, now)
    assert refusal is not None and refusal.status == 402
    assert world.invoices().enforce_past_due(ACTION) is False  # once
    assert world.invoices().list_invoices(10, None).items  # reads go on

    world.invoices().update_status(invoice.id, InvoiceStatus.PAID, OPERATOR)
    assert advance(world.partner().subscription, world.clock.now()).state is SubscriptionState.ACTIVE


def test_the_region_run_invoices_every_partner_once(router: StorageRouter) -> None:
    world = World(router, start=datetime(2026, 3, 1, tzinfo=UTC))
    second = world.add_partner()
    world.clock.moment = datetime(2026, 4, 1, 1, tzinfo=UTC)
    ids = [pid for pid in partner_ids_in(router.region("eu")) if pid in (world.partner_id, second)]
    first = close_region(ids, world.invoices, OPERATOR)
    again = close_region(ids, world.invoices, OPERATOR)
    assert (first.invoiced, first.failed, again.invoiced) == (2, 0, 2)
    assert len(world.invoices(second).list_invoices(10, None).items) == 1


def test_another_partner_never_reaches_an_invoice(router: StorageRouter) -> None:
    world = World(router)
    other = world.add_partner()
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    with pytest.raises(ProblemError) as missing:
        world.invoices(other).get_invoice(invoice.id)
    assert missing.value.status == 404
    with pytest.raises(ProblemError):
        world.invoices(other).update_status(invoice.id, InvoiceStatus.PAID, OPERATOR)
    assert world.invoices(other).list_invoices(100, None).items == []


def test_invoices_go_with_the_administration_records(router: StorageRouter) -> None:
    """InvoiceRecords (`billing.invoices`): 7 years after the service ends, with the number rows."""
    world = World(router, start=datetime(2001, 1, 1, tzinfo=UTC))
    world.meter().record(world.partner_id, Unit.API_CALLS, key="x")
    world.service.terminate(world.partner(), OPERATOR)  # ends with the first cycle, 2001-02-01
    world.clock.moment = datetime(2001, 2, 2, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None and invoice.period_end == datetime(2001, 2, 1, tzinfo=UTC)
    table = router.region("eu").table(TABLE)
    series = series_partition("eu")
    registry = RetentionRegistry([InvoiceRecords(), AdministrationRecords()])

    def sweep(at: datetime) -> None:
        for _ in range(20):
            if RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60).sweep("eu").complete:
                return
        raise AssertionError("the sweep never completed")

    sweep(datetime(2008, 1, 31, tzinfo=UTC))
    assert tables.get(table, world.partner_id, f"inv~{invoice.id}") is not None
    sweep(datetime(2008, 2, 2, tzinfo=UTC))
    assert list(tables.query(table, tables.partition(world.partner_id))) == []
    assert tables.get(table, series, f"claim~{invoice.id}") is None
    assert tables.get(table, series, "counter") is not None  # the series goes on


def test_a_trial_pays_only_for_the_part_of_the_cycle_after_it_and_nothing_owed_is_not_open(
    router: StorageRouter,
) -> None:
    world = World(router)
    body = PartnerIn.model_validate(
        {
            "displayName": "Trial IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@trial.example"},
            "subscription": {
                "plan": world.basic,
                "tenantLimit": 10,
                "billingCycle": "monthly",
                "trialDays": 10,
            },
        }
    )
    short = world.service.create(body, OPERATOR).id
    whole = world.service.create(
        body.model_copy(update={"subscription": body.subscription.model_copy(update={"trial_days": 45})}),
        OPERATOR,
    ).id
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    part = world.invoices(short).close_cycle(ACTION)
    assert part is not None
    assert part.lines[0].amount_cents == round(10000 * 21 / 31)  # 21 of January's 31 days paid
    free = world.invoices(whole).close_cycle(ACTION)
    assert free is not None and free.total_cents == 0 and free.status is InvoiceStatus.PAID
    world.clock.moment = free.due_at + GRACE + timedelta(days=1)
    assert world.invoices(whole).enforce_past_due(ACTION) is False


def test_partial_credit_notes_never_take_more_than_the_invoice_and_the_last_one_voids_it(
    router: StorageRouter,
) -> None:
    world = World(router)
    world.meter().record_many(world.partner_id, Unit.DEVICES_REGISTERED, ["d1", "d2", "d3"])
    world.meter().record_many(world.partner_id, Unit.SUBJECT_REQUESTS_HANDLED, ["r1", "r2", "r3", "r4"])
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None and invoice.subtotal_cents == 10000 + 30 + 1000
    devices = next(i for i, line in enumerate(invoice.lines) if line.unit == Unit.DEVICES_REGISTERED.value)
    assert invoice.lines[devices].amount_cents == 30  # 3 devices x 10 cents
    # The plan line (EUR 100) and the devices line, with the invoice's 21% VAT.
    by_lines = world.invoices().create_credit_note(
        invoice.id, _credit("Plan and devices billed twice", lines=[0, devices]), OPERATOR
    )
    assert [line.amount_cents for line in by_lines.lines] == [-10000, -30]
    assert (by_lines.subtotal_cents, by_lines.vat.amount_cents, by_lines.total_cents) == (
        -10030,
        -2106,
        -12136,
    )
    assert by_lines.usage == {Unit.DEVICES_REGISTERED.value: -3}
    assert (by_lines.credits_invoice_id, by_lines.credits_number) == (invoice.id, invoice.number)
    after = world.invoices().get_invoice(invoice.id)
    assert (after.status, after.credited_cents, after.credit_note_ids) == (
        InvoiceStatus.OPEN,
        12136,
        [by_lines.id],
    )

    with pytest.raises(ProblemError) as twice:
        world.invoices().create_credit_note(invoice.id, _credit("again", lines=[0]), OPERATOR)
    assert (twice.value.status, twice.value.kind) == (409, "line-credited")
    left = invoice.total_cents - 12136
    with pytest.raises(ProblemError) as too_much:
        world.invoices().create_credit_note(invoice.id, _credit("Too generous", amountCents=10**6), OPERATOR)
    assert (too_much.value.status, too_much.value.kind) == (409, "credit-exceeds-invoice")
    assert too_much.value.extra["remainingCents"] == left
    assert money(left, "EUR") in str(too_much.value.detail)
    assert world.invoices().get_invoice(invoice.id).credited_cents == 12136  # the refusal took nothing

    world.invoices().update_status(invoice.id, InvoiceStatus.PAID, OPERATOR)
    goodwill = world.invoices().create_credit_note(invoice.id, _credit("Goodwill", amountCents=500), OPERATOR)
    assert (goodwill.subtotal_cents, goodwill.total_cents) == (-500, -605)
    assert world.invoices().get_invoice(invoice.id).status is InvoiceStatus.PAID  # still paid, part credited

    rest = world.invoices().create_credit_note(invoice.id, _credit("Closing the account"), OPERATOR)
    notes = [by_lines, goodwill, rest]
    assert sum(note.total_cents for note in notes) == -invoice.total_cents
    assert sum(note.subtotal_cents for note in notes) == -invoice.subtotal_cents
    assert sum(note.vat.amount_cents for note in notes) == -invoice.vat.amount_cents
    voided = world.invoices().get_invoice(invoice.id)
    assert (voided.status, voided.credited_cents) == (InvoiceStatus.VOID, invoice.total_cents)
    assert voided.credit_note_ids == [note.id for note in notes]
    assert world.invoices().create_credit_note(invoice.id, _credit("again"), OPERATOR).id == rest.id
    with pytest.raises(ProblemError) as void:
        world.invoices().create_credit_note(invoice.id, _credit("more", amountCents=1), OPERATOR)
    assert void.value.status == 409
    numbers = [int(item.number.rsplit("-", 1)[1]) for item in [invoice, *notes]]
    assert numbers == sorted(numbers)  # each note numbered in the series, in turn


def test_concurrent_partial_credits_stop_at_the_invoice_total(router: StorageRouter) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None and invoice.subtotal_cents == 10000

    def credit(_: int) -> int:
        try:
            return (
                world.invoices()
                .create_credit_note(invoice.id, _credit("Part", amountCents=3000), OPERATOR)
                .total_cents
            )
        except ProblemError as refused:
            assert refused.kind == "credit-exceeds-invoice"
            return 0

    with ThreadPoolExecutor(6) as pool:
        taken = [t for t in pool.map(credit, range(6)) if t]
    assert len(taken) == 3  # 3 x EUR 30 fit in EUR 100; a fourth would not
    assert world.invoices().get_invoice(invoice.id).credited_cents == -sum(taken)


def test_a_partially_credited_invoice_and_its_note_say_so_in_the_pdf(router: StorageRouter) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 2, 1, 1, tzinfo=UTC)
    invoice = world.invoices().close_cycle(ACTION)
    assert invoice is not None
    note = world.invoices().create_credit_note(invoice.id, _credit("Outage", amountCents=2500), OPERATOR)
    text = PdfReader(io.BytesIO(world.invoices().render_pdf(invoice.id))).pages[0].extract_text()
    assert f"Credited: {money(-note.total_cents, 'EUR')}" in text
    assert f"Please pay {money(invoice.total_cents + note.total_cents, 'EUR')}" in text.replace("\n", " ")
    note_text = PdfReader(io.BytesIO(world.invoices().render_pdf(note.id))).pages[0].extract_text()
    assert f"Credit note {note.number}" in note_text and f"Corrects invoice {invoice.number}" in note_text
    assert "Reason: Outage" in note_text and money(note.total_cents, "EUR") in note_text


def test_a_host_down_40_days_catches_up_every_missed_day_and_cycle_once_in_order(
    router: StorageRouter,
) -> None:
    world = World(router)
    second = world.add_partner()
    account = router.region("eu")
    tenants = seed_partner(
        account, world.clock, world.partner_id, tenants=2, users=0, orgs=0, devices=0, events_per_tenant=0
    ).tenants

    def census() -> None:
        record_daily_tenants(
            ["eu"], router.region, lambda region: UsageMeter(router.region(region), world.clock)
        )

    world.clock.moment = datetime(2026, 1, 20, 2, tzinfo=UTC)
    census()  # the last run before the host goes down
    # While the timers were down: a tenant onboarded on 25 January, one removed on 5 February.
    world.clock.moment = datetime(2026, 1, 25, 10, tzinfo=UTC)
    seed_partner(
        account, world.clock, world.partner_id, tenants=1, users=0, orgs=0, devices=0, events_per_tenant=0
    )
    world.clock.moment = datetime(2026, 2, 5, 12, tzinfo=UTC)
    account.table("tenants").delete_entity(world.partner_id, tenants[1])
    ACTION.record(
        AuditLog(account, world.clock),
        world.partner_id,
        "tenant.deleted",
        {"type": "tenant", "id": tenants[1]},
    )

    world.clock.moment = datetime(2026, 3, 1, 1, 20, tzinfo=UTC)  # 40 days on: two cycles have ended
    before = _numbers(router)
    census()
    report = close_region([world.partner_id, second], world.invoices, ACTION)
    assert (report.issued, report.invoiced, report.failed) == (4, 2, 0)

    meter = world.meter()
    days = {
        f"{day:%Y-%m-%d}": count
        for month in ("2026-01", "2026-02", "2026-03")
        for day, count in _tenant_days(router, world.partner_id, month).items()
    }
    assert days == {
        "2026-01-20": 2,
        **{f"2026-01-{d:02d}": 2 for d in range(21, 25)},
        **{f"2026-01-{d:02d}": 3 for d in range(25, 32)},
        **{f"2026-02-{d:02d}": 3 for d in range(1, 6)},  # removed on the 5th: held that day
        **{f"2026-02-{d:02d}": 2 for d in range(6, 29)},
        "2026-03-01": 2,
    }
    january, february = world.invoices().list_invoices(10, None).items
    assert (january.period_end, february.period_end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert (january.usage["tenantDays"], january.usage["tenants"]) == (1 * 2 + 4 * 2 + 7 * 3, 3)
    assert (february.usage["tenantDays"], february.usage["tenants"]) == (5 * 3 + 23 * 2, 3)
    assert february.usage == meter.get_totals(
        world.partner_id, start=february.period_start, end=february.period_end
    )
    theirs = world.invoices(second).list_invoices(10, None).items
    assert [i.period_end for i in theirs] == [january.period_end, february.period_end]
    # One series, no gaps, and every January invoice numbered before every February one.
    numbers = _numbers(router)
    # (The retention test of this module sweeps old numbers' rows: look at the ones taken here.)
    taken = sorted(set(numbers) - set(before))
    assert taken == list(range(max(before, default=0) + 1, max(before, default=0) + 5))
    number = {i.id: int(i.number.rsplit("-", 1)[1]) for i in [january, february, *theirs]}
    assert max(number[january.id], number[theirs[0].id]) < min(number[february.id], number[theirs[1].id])

    # The next run finds nothing left to do.
    census()
    again = close_region([world.partner_id, second], world.invoices, ACTION)
    assert (again.issued, again.invoiced) == (0, 2)
    assert _numbers(router) == numbers
    assert len(world.invoices().list_invoices(10, None).items) == 2
    assert {
        f"{day:%Y-%m-%d}": count
        for month in ("2026-01", "2026-02", "2026-03")
        for day, count in _tenant_days(router, world.partner_id, month).items()
    } == days


def test_cycles_missed_longer_than_the_catch_up_are_left_and_the_recent_ones_invoiced(
    router: StorageRouter,
) -> None:
    world = World(router)
    world.clock.moment = datetime(2026, 6, 15, tzinfo=UTC)  # five cycles ended; 90 days go back to 17 March
    latest = world.invoices().close_cycle(ACTION)
    assert latest is not None and latest.period_end == datetime(2026, 6, 1, tzinfo=UTC)
    invoiced = world.invoices().list_invoices(10, None).items
    assert [i.period_start for i in invoiced] == [datetime(2026, m, 1, tzinfo=UTC) for m in (3, 4, 5)]
    assert world.invoices().close_cycle(ACTION).id == latest.id  # type: ignore[union-attr]
    assert len(world.invoices().list_invoices(10, None).items) == 3


def _tenant_days(router: StorageRouter, partner_id: str, month: str) -> dict[date, int]:
    rows = tables.query(
        router.region("eu").table("usage"),
        f"{tables.partition(f'{partner_id}-{month}')} and {tables.prefix('RowKey', 'tenants~')}",
    )
    return {date.fromisoformat(str(row["RowKey"]).split("~", 1)[1]): int(row["amount"]) for row in rows}
