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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.billing import charges
from shared.billing.models import (
    CloseReport,
    InvoiceDocument,
    InvoiceKind,
    InvoiceLine,
    InvoiceList,
    InvoiceOut,
    InvoiceStatus,
    Party,
    Vat,
)
from shared.billing.numbering import InvoiceNumbers, format_number
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


def invoice_key(invoice_id: str) -> str:
    return f"{_INVOICE}{invoice_id}"


def _compact(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S%f}"


def _one_line(address: Address) -> str:
    town = f"{address.postal_code} {address.city}"
    return ", ".join(part for part in (address.line1, address.line2, town) if part)


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
        """The invoice of the latest cycle that has ended (None while the first is running);
        closing again gives the same invoice. Drafts an earlier close left unissued are issued first."""
        for draft in self._list_drafts():
            self._issue(draft, context)
        period = charges.last_completed_period(self.partner.subscription, self.clock.now())
        if period is None:
            return None
        marker = f"cycle~{_compact(period.end)}"
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

    def _draft(self, marker: str, document: InvoiceDocument) -> str:
        """Writes the draft and its marker together; if the marker is there already, its invoice."""
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
                ],
            )
        except tablebatch.BatchRefusedError as error:
            if error.status_code != 409:
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

    def create_credit_note(self, invoice_id: str, reason: str, context: ActionContext) -> InvoiceOut:
        """A credit note for the whole invoice: its lines negated, its own number in the same series;
        the invoice itself is never changed but for its status, which becomes void."""
        original = self.get_invoice(invoice_id)
        if original.kind is not InvoiceKind.INVOICE:
            raise ProblemError(409, "not-an-invoice", "Not an invoice.", "A credit note cannot be credited.")
        marker = f"credit~{invoice_id}"
        found = tables.get(self._table(), self.partner.id, marker)
        if found is not None:  # credited before (or a crash cut that off half-way): finish it
            issued = self._issue(str(found["invoiceId"]), context)
            if original.status is not InvoiceStatus.VOID:
                self.update_status(invoice_id, InvoiceStatus.VOID, context)
            return issued
        if original.status is InvoiceStatus.VOID:
            raise ProblemError(
                409, "invoice-void", "The invoice is void.", "A void invoice has nothing to credit."
            )
        negated = [
            line.model_copy(
                update={
                    "quantity": -line.quantity,
                    "amount_cents": -line.amount_cents,
                }
            )
            for line in original.lines
        ]
        note = original.model_copy(
            update={
                "id": new_id(),
                "kind": InvoiceKind.CREDIT_NOTE,
                "lines": negated,
                "subtotal_cents": -original.subtotal_cents,
                # The VAT the invoice charged, negated: never recomputed, so the two add up to zero.
                "vat": original.vat.model_copy(update={"amount_cents": -original.vat.amount_cents}),
                "total_cents": -original.total_cents,
                "usage": {unit: -count for unit, count in original.usage.items()},
                "credits_invoice_id": original.id,
                "credits_number": original.number,
                "reason": reason,
            }
        )
        document = InvoiceDocument.model_validate(note.model_dump(include=set(InvoiceDocument.model_fields)))
        issued = self._issue(self._draft(marker, document), context)
        self.update_status(invoice_id, InvoiceStatus.VOID, context)
        return issued

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
    """Closes each partner's ended cycle and applies the past-due rule (the timer, the operator).
    One partner's failure is logged and counted; the others are still invoiced."""
    invoiced = past_due = failed = 0
    for partner_id in partner_ids:
        try:
            service = service_for(partner_id)
            invoiced += service.close_cycle(context) is not None
            past_due += service.enforce_past_due(context)
        except Exception:
            log.exception("billing: closing the cycle of partner %s failed", partner_id)
            failed += 1
    return CloseReport(partners=len(partner_ids), invoiced=invoiced, past_due=past_due, failed=failed)
