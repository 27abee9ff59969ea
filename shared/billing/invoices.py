"""Invoices of one partner: closing a cycle, credit notes, status, the past-due rule, the PDF.

Rows of the region's `invoices` table, in the partner's partition:
`inv~<id>` the invoice (its document as JSON, fixed at drafting; then its number, status and
dates), `cycle~<end>` which invoice a cycle got, `credit~<id>` which credit note corrects an
invoice, `profile` the partner's administration details. A draft and its `cycle~` (or `credit~`)
row are written in one transaction, so closing the same cycle twice, or at once from two
instances, drafts one invoice; numbering is `numbering.InvoiceNumbers`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.billing import charges
from shared.billing.models import (
    CloseReport,
    CreditNoteIn,
    InvoiceDocument,
    InvoiceKind,
    InvoiceLine,
    InvoiceList,
    InvoiceOut,
    InvoiceStatus,
    LineKind,
    Party,
    Vat,
)
from shared.billing.numbering import InvoiceNumbers, format_number
from shared.billing.pdf import money
from shared.billing.vat import decide_vat, issuer_for, vat_cents
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, not_found
from shared.ids import new_id
from shared.partners.models import Address, Administration
from shared.partners.plans import CURRENCY
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import SubscriptionState, advance
from shared.storage import tablebatch, tables

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.billing")

TABLE = "invoices"
DUE_DAYS = 14  # payment term: an invoice is due this long after it is issued
DRAFT = "draft"
_INVOICE = "inv~"
_CREDIT_ATTEMPTS = 20
# How far back a close catches up cycles the timer missed (the host down): 90 days of cycles.
CATCH_UP = timedelta(days=90)
_MAX_CATCH_UP_CYCLES = 12  # a guard on the walk back; CATCH_UP is the bound that matters


def invoice_key(invoice_id: str) -> str:
    return f"{_INVOICE}{invoice_id}"


def _compact(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S%f}"


def _one_line(address: Address) -> str:
    town = f"{address.postal_code} {address.city}"
    return ", ".join(part for part in (address.line1, address.line2, town) if part)


@dataclass(frozen=True)
class _Credited:
    """What an invoice's credit notes have taken so far, as its row counts it."""

    total: int
    subtotal: int
    vat: int
    lines: frozenset[int]
    notes: list[str]

    @staticmethod
    def of(row: Any) -> _Credited:
        return _Credited(
            total=int(row.get("creditedCents") or 0),
            subtotal=int(row.get("creditedSubtotalCents") or 0),
            vat=int(row.get("creditedVatCents") or 0),
            lines=frozenset(json.loads(str(row.get("creditedLines") or "[]"))),
            notes=list(json.loads(str(row.get("creditNotes") or "[]"))),
        )


def _negated(line: InvoiceLine) -> InvoiceLine:
    return line.model_copy(update={"quantity": -line.quantity, "amount_cents": -line.amount_cents})


def _credit_line(description: str, amount_cents: int) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind.ADJUSTMENT,
        description=description,
        quantity=-1,
        unit_price_cents=str(amount_cents),
        amount_cents=-amount_cents,
    )


def _cycle_marker(period: charges.Period) -> str:
    return f"cycle~{_compact(period.end)}"


def _no_invoice() -> ProblemError:
    return not_found("No such invoice.")


class InvoiceService:
    """One partner's invoices in its region. `grace`: how long an open invoice may be past due
    before the subscription turns read-only (past_due)."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        partners: PartnerService,
        clock: Clock,
        *,
        grace: timedelta,
    ):
        self.account = account
        self.partner = partner
        self.partners = partners
        self.clock = clock
        self.grace = grace
        self.issuer = issuer_for(partner.region)
        self.numbers = InvoiceNumbers(self._table(), partner.region)

    def _table(self) -> TableClient:
        return self.account.table(TABLE)

    def _audit(self) -> AuditLog:
        return AuditLog(self.account, self.clock)

    # --- closing a cycle -------------------------------------------------------------------------

    def close_cycle(self, context: ActionContext) -> InvoiceOut | None:
        """Invoices every ended cycle that has none yet, oldest first (see `list_pending_periods`),
        and returns the latest ended cycle's invoice (None while the first cycle is running);
        closing again gives the same invoices. Drafts an earlier close left unissued are issued first."""
        self.issue_drafts(context)
        latest: InvoiceOut | None = None
        for pending in self.list_pending_periods():
            latest = self.close_period(pending, context)
        if latest is not None:
            return latest
        period = charges.last_completed_period(self.partner.subscription, self.clock.now())
        return None if period is None else self.close_period(period, context)

    def issue_drafts(self, context: ActionContext) -> None:
        for draft in self._list_drafts():
            self._issue(draft, context)

    def list_pending_periods(self) -> list[charges.Period]:
        """Ended cycles without an invoice, oldest first: the latest ended cycle, and before it those
        the timer missed (host down), back to the last invoiced cycle but no further than
        `CATCH_UP` before now. An older cycle is left to the operator (logged), never invoiced
        out of order behind a later one."""
        now = self.clock.now()
        found: list[charges.Period] = []
        moment = now
        while len(found) < _MAX_CATCH_UP_CYCLES:
            period = charges.last_completed_period(self.partner.subscription, moment)
            if period is None or (found and period.end >= found[-1].end):
                break  # before the first cycle, or a terminated subscription's one last period
            if found and period.end < now - CATCH_UP:
                log.warning(
                    "billing: partner %s's cycle %s to %s ended more than %d days ago and was not "
                    "invoiced; the catch-up stops there",
                    self.partner.id,
                    period.start,
                    period.end,
                    CATCH_UP.days,
                )
                break
            if tables.get(self._table(), self.partner.id, _cycle_marker(period)) is not None:
                if not found:  # the latest is invoiced: so is everything before it
                    return []
                break
            found.append(period)
            moment = period.start
        return found[::-1]

    def close_period(self, period: charges.Period, context: ActionContext) -> InvoiceOut:
        """The invoice of one ended cycle: drafted once (the cycle's marker), then issued."""
        marker = _cycle_marker(period)
        found = tables.get(self._table(), self.partner.id, marker)
        if found is not None:
            return self._issue(str(found["invoiceId"]), context)
        document = self._document(period)
        return self._issue(self._draft(marker, document), context)

    def _document(self, period: charges.Period) -> InvoiceDocument:
        totals = self.partners.usage(self.account).get_totals(
            self.partner.id, start=period.start, end=period.end
        )
        lines = charges.plan_lines(period, self.partners.plans) + charges.usage_lines(totals)
        return self._priced(
            InvoiceKind.INVOICE, lines, period.start, period.end, usage=totals, invoice_id=new_id()
        )

    def _priced(
        self,
        kind: InvoiceKind,
        lines: list[InvoiceLine],
        start: datetime,
        end: datetime,
        *,
        usage: dict[str, int],
        invoice_id: str,
    ) -> InvoiceDocument:
        # The administration fields of the partner record (shared/partners): drafted from what
        # they say now; an issued invoice keeps the details it was issued with.
        admin = self.partner.administration or Administration()
        country = admin.address.country if admin.address else None
        # A VAT number is what makes the customer a business for reverse charge.
        decision = decide_vat(self.issuer, country=country, business=True, vat_number=admin.vat_number)
        subtotal = sum(line.amount_cents for line in lines)
        vat = vat_cents(subtotal, decision.rate)
        customer = Party(
            name=admin.legal_name or self.partner.display_name,
            address=_one_line(admin.address) if admin.address else None,
            country=country,
            vat_number=admin.vat_number,
            chamber_of_commerce=admin.chamber_of_commerce_number,
        )
        return InvoiceDocument(
            id=invoice_id,
            kind=kind,
            partner_id=self.partner.id,
            issuer=Party(
                name=self.issuer.name,
                address=self.issuer.address,
                country=self.issuer.country,
                vat_number=self.issuer.vat_number,
                chamber_of_commerce=self.issuer.chamber_of_commerce,
            ),
            customer=customer,
            currency=CURRENCY,
            period_start=start,
            period_end=end,
            lines=lines,
            subtotal_cents=subtotal,
            vat=Vat(
                treatment=decision.treatment.value,
                rate_percent=str(decision.rate),
                amount_cents=vat,
                note=decision.note,
            ),
            total_cents=subtotal + vat,
            usage=usage,
            payment_details=self.issuer.payment_details,
        )

    def _draft(
        self,
        marker: str,
        document: InvoiceDocument,
        *,
        also: list[tuple[Any, ...]] | None = None,
        strict: bool = False,
    ) -> str:
        """Writes the draft and its marker together (and `also`, in the same transaction); if the
        marker is there already, its invoice (`strict`: the refusal is raised instead)."""
        try:
            tablebatch.submit(
                self._table(),
                [
                    ("create", {"PartitionKey": self.partner.id, "RowKey": marker, "invoiceId": document.id}),
                    (
                        "create",
                        {
                            "PartitionKey": self.partner.id,
                            "RowKey": invoice_key(document.id),
                            "kind": document.kind.value,
                            "status": DRAFT,
                            "document": document.model_dump_json(by_alias=True),
                        },
                    ),
                    *(also or []),
                ],
            )
        except tablebatch.BatchRefusedError as error:
            if strict or error.status_code != 409:
                raise
            found = tables.get(self._table(), self.partner.id, marker)
            if found is None:
                raise
            return str(found["invoiceId"])
        return document.id

    def _issue(self, invoice_id: str, context: ActionContext) -> InvoiceOut:
        """Numbers a draft and marks it open (idempotent: an issued invoice is returned as it is)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        row = self._row(invoice_id)
        if row is None:
            raise _no_invoice()
        if row["status"] != DRAFT:
            return _out(row)
        number = self.numbers.claim(self.partner.id, invoice_id)
        now = self.clock.now()
        document = InvoiceDocument.model_validate_json(str(row["document"]))
        due = now if document.kind is InvoiceKind.CREDIT_NOTE else now + timedelta(days=DUE_DAYS)
        settled = document.kind is InvoiceKind.INVOICE and document.total_cents <= 0
        issued = {
            "PartitionKey": self.partner.id,
            "RowKey": invoice_key(invoice_id),
            "number": format_number(self.numbers.series, number),
            # Nothing to pay (a trial's cycle without usage): settled as issued, never past due.
            "status": (InvoiceStatus.PAID if settled else InvoiceStatus.OPEN).value,
            "issuedAt": isoformat(now),
            "dueAt": isoformat(due),
        }
        try:
            self._table().update_entity(
                issued, mode=UpdateMode.MERGE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
            return self.get_invoice(invoice_id)  # another instance issued it meanwhile
        out = _out(tables.Row({**row, **issued}))
        context.record(
            self._audit(),
            self.partner.id,
            "invoice.issued",
            {"type": "invoice", "id": invoice_id},
            details={
                "number": out.number,
                "kind": out.kind.value,
                "totalCents": out.total_cents,
                "currency": out.currency,
                "dueAt": isoformat(out.due_at),
            },
        )
        return out

    def _list_drafts(self) -> Iterator[str]:
        where = f"{tables.partition(self.partner.id)} and {tables.prefix('RowKey', _INVOICE)}"
        for row in tables.query(
            self._table(), f"{where} and {tables.eq('status', DRAFT)}", select=["RowKey"]
        ):
            yield str(row["RowKey"])[len(_INVOICE) :]

    # --- reading ---------------------------------------------------------------------------------

    def _row(self, invoice_id: str) -> tables.Row | None:
        return tables.get(self._table(), self.partner.id, invoice_key(invoice_id))

    def get_invoice(self, invoice_id: str) -> InvoiceOut:
        row = self._row(invoice_id)
        if row is None or row["status"] == DRAFT:
            raise _no_invoice()
        return _out(row)

    def list_invoices(self, top: int, continuation: str | None) -> InvoiceList:
        """Issued invoices and credit notes, oldest first."""
        where = f"{tables.partition(self.partner.id)} and {tables.prefix('RowKey', _INVOICE)}"
        rows, token = tables.page(
            self._table(), f"{where} and status ne {tables.literal(DRAFT)}", top, continuation
        )
        return InvoiceList(items=[_out(row) for row in rows], continuation_token=token)

    def render_pdf(self, invoice_id: str) -> bytes:
        from shared.billing.pdf import render

        return render(self.get_invoice(invoice_id))

    # --- the operator: status and credit notes -----------------------------------------------------

    def update_status(self, invoice_id: str, status: InvoiceStatus, context: ActionContext) -> InvoiceOut:
        """Payment collection is outside Tenantry: the operator says what was paid. Void is final."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        current = self.get_invoice(invoice_id)
        if current.status is InvoiceStatus.VOID and status is not InvoiceStatus.VOID:
            raise ProblemError(409, "invoice-void", "The invoice is void.", "A void invoice stays void.")
        if current.status is not status:
            row = self._row(invoice_id)
            if row is None:
                raise _no_invoice()
            change = {
                "PartitionKey": self.partner.id,
                "RowKey": invoice_key(invoice_id),
                "status": status.value,
                "statusChangedAt": isoformat(self.clock.now()),
            }
            try:
                self._table().update_entity(
                    change,
                    mode=UpdateMode.MERGE,
                    etag=row.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as error:
                tables.raise_if_conflict(error)
                raise
            context.record(
                self._audit(),
                self.partner.id,
                "invoice.status_changed",
                {"type": "invoice", "id": invoice_id},
                changes={"status": {"before": current.status.value, "after": status.value}},
            )
        self._reactivate_if_settled(context)
        return self.get_invoice(invoice_id)

    def create_credit_note(
        self, invoice_id: str, request: CreditNoteIn, context: ActionContext
    ) -> InvoiceOut:
        """A credit note of the whole invoice (what is left of it), of some of its lines, or of an
        amount before VAT; its own number in the same series. The invoice's document is never
        changed: its row counts what was credited (written in one transaction with the note's
        draft, under the row's ETag, so two credits at once cannot take more than the invoice
        holds) and it becomes void once nothing is left to credit."""
        original = self.get_invoice(invoice_id)
        if original.kind is not InvoiceKind.INVOICE:
            raise ProblemError(409, "not-an-invoice", "Not an invoice.", "A credit note cannot be credited.")
        closing = f"credit~{invoice_id}"  # the credit note that leaves nothing to credit
        for _ in range(_CREDIT_ATTEMPTS):
            if request.whole:
                found = tables.get(self._table(), self.partner.id, closing)
                if found is not None:  # credited in full before (or a crash cut that off): finish it
                    return self._issue(str(found["invoiceId"]), context)
            row = self._row(invoice_id)
            if row is None:
                raise _no_invoice()
            current = _out(row)
            if current.status is InvoiceStatus.VOID:
                raise ProblemError(
                    409, "invoice-void", "The invoice is void.", "A void invoice has nothing to credit."
                )
            credited = _Credited.of(row)
            document = self._credit_document(original, credited, request)
            fully = document.total_cents == credited.total - original.total_cents  # nothing left
            marker = closing if fully else f"credit~{invoice_id}~{len(credited.notes) + 1:03d}"
            change: dict[str, Any] = {
                "PartitionKey": self.partner.id,
                "RowKey": invoice_key(invoice_id),
                "creditedCents": credited.total - document.total_cents,
                "creditedSubtotalCents": credited.subtotal - document.subtotal_cents,
                "creditedVatCents": credited.vat - document.vat.amount_cents,
                "creditedLines": json.dumps(sorted(credited.lines | set(request.lines or []))),
                "creditNotes": json.dumps([*credited.notes, document.id]),
            }
            if fully:
                change.update(status=InvoiceStatus.VOID.value, statusChangedAt=isoformat(self.clock.now()))
            try:
                self._draft(marker, document, also=[("update", change, row.etag)], strict=True)
            except tablebatch.BatchRefusedError as error:
                if error.status_code not in (409, 412):
                    raise
                continue  # another credit of this invoice came first: look again
            note = self._issue(document.id, context)
            if fully:
                context.record(
                    self._audit(),
                    self.partner.id,
                    "invoice.status_changed",
                    {"type": "invoice", "id": invoice_id},
                    changes={"status": {"before": current.status.value, "after": InvoiceStatus.VOID.value}},
                )
                self._reactivate_if_settled(context)
            return note
        raise ProblemError(
            409,
            "invoice-busy",
            "The invoice is being credited.",
            "Other credits of it are under way; try again.",
        )

    def _credit_document(
        self, original: InvoiceOut, credited: _Credited, request: CreditNoteIn
    ) -> InvoiceDocument:
        """The note's lines and totals (negative), checked against what the invoice has left."""
        left_subtotal = original.subtotal_cents - credited.subtotal
        left_vat = original.vat.amount_cents - credited.vat
        left_total = original.total_cents - credited.total
        usage: dict[str, int] = {}
        if request.whole and credited.total == 0 and not credited.lines:
            lines = [_negated(line) for line in original.lines]  # the whole invoice, line by line
            usage = {unit: -count for unit, count in original.usage.items()}
        elif request.whole:
            lines = [_credit_line(f"The rest of invoice {original.number}", left_subtotal)]
        elif request.lines is not None:
            for index in request.lines:
                if index >= len(original.lines):
                    raise ProblemError(
                        422,
                        "no-such-line",
                        "No such invoice line.",
                        f"Invoice {original.number} has lines 0 to {len(original.lines) - 1}; "
                        f"there is no {index}.",
                    )
                if index in credited.lines:
                    raise ProblemError(
                        409,
                        "line-credited",
                        "The line is credited already.",
                        f"Line {index} of invoice {original.number} was credited by an earlier credit note.",
                    )
            lines = [_negated(original.lines[index]) for index in request.lines]
            for line in lines:
                if line.kind is LineKind.USAGE and line.unit is not None:
                    usage[line.unit] = line.quantity
        else:
            assert request.amount_cents is not None  # CreditNoteIn: lines, an amount, or neither
            lines = [_credit_line(request.reason, request.amount_cents)]
        subtotal = -sum(line.amount_cents for line in lines)
        currency = original.currency
        if subtotal <= 0 and left_total > 0:
            raise ProblemError(
                422, "nothing-to-credit", "Nothing to credit.", "The lines named add up to nothing."
            )
        # The last credit takes exactly the VAT that is left, so the notes and the invoice add up.
        vat = (
            left_vat
            if subtotal == left_subtotal
            else min(left_vat, vat_cents(subtotal, Decimal(original.vat.rate_percent)))
        )
        if left_total <= 0 or subtotal > left_subtotal or subtotal + vat > left_total:
            raise ProblemError(
                409,
                "credit-exceeds-invoice",
                "The credit is more than the invoice has left.",
                f"Invoice {original.number} has {money(max(0, left_total), currency)} left to credit "
                f"({money(max(0, left_subtotal), currency)} before VAT); this credit note would take "
                f"{money(subtotal + vat, currency)}.",
                extra={"remainingCents": max(0, left_total), "remainingSubtotalCents": max(0, left_subtotal)},
            )
        note = original.model_copy(
            update={
                "id": new_id(),
                "kind": InvoiceKind.CREDIT_NOTE,
                "lines": lines,
                "subtotal_cents": -subtotal,
                "vat": original.vat.model_copy(update={"amount_cents": -vat}),
                "total_cents": -(subtotal + vat),
                "usage": usage,
                "credits_invoice_id": original.id,
                "credits_number": original.number,
                "reason": request.reason,
            }
        )
        return InvoiceDocument.model_validate(note.model_dump(include=set(InvoiceDocument.model_fields)))

    # --- the past-due rule ----------------------------------------------------------------------

    def _overdue(self, now: datetime) -> list[InvoiceOut]:
        where = f"{tables.partition(self.partner.id)} and {tables.prefix('RowKey', _INVOICE)}"
        open_rows = tables.query(
            self._table(), f"{where} and {tables.eq('status', InvoiceStatus.OPEN.value)}"
        )
        return [
            invoice
            for invoice in (_out(row) for row in open_rows)
            if invoice.kind is InvoiceKind.INVOICE and invoice.due_at + self.grace < now
        ]

    def enforce_past_due(self, context: ActionContext) -> bool:
        """An invoice open past its due date and the grace makes the subscription past_due (read-only;
        reads and the privacy tools stay). True if this call moved it."""
        now = self.clock.now()
        state = advance(self.partner.subscription, now).state
        if state in (SubscriptionState.PAST_DUE, SubscriptionState.TERMINATED) or not self._overdue(now):
            return False
        self.partner = self.partners.update_state(self.partner, SubscriptionState.PAST_DUE, context)
        return True

    def _reactivate_if_settled(self, context: ActionContext) -> None:
        now = self.clock.now()
        partner = self.partners.get(self.partner.id)
        if advance(partner.subscription, now).state is SubscriptionState.PAST_DUE and not self._overdue(now):
            self.partner = self.partners.update_state(partner, SubscriptionState.ACTIVE, context)


def _out(row: Any) -> InvoiceOut:
    document = json.loads(str(row["document"]))
    changed = row.get("statusChangedAt")
    return InvoiceOut.model_validate(
        {
            **document,
            "number": row["number"],
            "status": row["status"],
            "issuedAt": parse_iso(row["issuedAt"]),
            "dueAt": parse_iso(row["dueAt"]),
            "statusChangedAt": parse_iso(changed) if changed else None,
            "creditedCents": int(row.get("creditedCents") or 0),
            "creditNoteIds": json.loads(str(row.get("creditNotes") or "[]")),
        }
    )


def partner_ids_in(account: AccountStorage) -> list[str]:
    """Every partner stored in a region (one row each: a cheap scan)."""
    rows = tables.query(account.table("partners"), tables.eq("RowKey", "partner"), select=["PartitionKey"])
    return sorted(str(row["PartitionKey"]) for row in rows)


def close_region(
    partner_ids: list[str],
    service_for: Callable[[str], InvoiceService],
    context: ActionContext,
) -> CloseReport:
    """Closes each partner's ended cycles and applies the past-due rule (the timer, the operator).

    Cycles the timer missed are caught up across partners in the order they ended, so the region's
    series numbers them chronologically. One partner's failure is logged and counted, its later
    cycles wait for the next run (never invoiced ahead of the one that failed); the others are
    still invoiced."""
    services: dict[str, InvoiceService] = {}
    failed: set[str] = set()
    queue: list[tuple[datetime, str, charges.Period]] = []
    for partner_id in partner_ids:
        try:
            service = services[partner_id] = service_for(partner_id)
            service.issue_drafts(context)
            queue.extend((period.end, partner_id, period) for period in service.list_pending_periods())
        except Exception:
            log.exception("billing: finding the ended cycles of partner %s failed", partner_id)
            failed.add(partner_id)
    issued = 0
    for _, partner_id, period in sorted(queue, key=lambda item: (item[0], item[1])):
        if partner_id in failed:
            continue
        try:
            services[partner_id].close_period(period, context)
            issued += 1
        except Exception:
            log.exception("billing: closing the cycle of partner %s failed", partner_id)
            failed.add(partner_id)
    invoiced = past_due = 0
    for partner_id, service in services.items():
        if partner_id in failed:
            continue
        try:
            # Its latest ended cycle was queued above, or invoiced before.
            invoiced += (
                charges.last_completed_period(service.partner.subscription, service.clock.now()) is not None
            )
            past_due += service.enforce_past_due(context)
        except Exception:
            log.exception("billing: closing the cycle of partner %s failed", partner_id)
            failed.add(partner_id)
    return CloseReport(
        partners=len(partner_ids), invoiced=invoiced, past_due=past_due, failed=len(failed), issued=issued
    )
