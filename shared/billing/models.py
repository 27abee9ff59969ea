"""What partner apps and the operator send and receive about invoices, credit notes and billing details."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from shared.models import ApiInput, ApiModel, UtcDateTime


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "creditNote"


class LineKind(StrEnum):
    PLAN = "plan"
    ADJUSTMENT = "adjustment"
    USAGE = "usage"


class Party(ApiModel):
    """Seller or buyer as the invoice names them."""

    name: str
    address: str | None = None
    country: str | None = None
    vat_number: str | None = None
    chamber_of_commerce: str | None = None


class InvoiceLine(ApiModel):
    kind: LineKind
    description: str
    unit: str | None = Field(default=None, description="The metered unit of a usage line.")
    quantity: int
    unit_price_cents: str = Field(description="Cents per unit, a decimal string (may be a fraction).")
    amount_cents: int


class Vat(ApiModel):
    treatment: str = Field(description="domestic | reverseCharge | outsideScope | none")
    rate_percent: str
    amount_cents: int
    note: str


class InvoiceDocument(ApiModel):
    """What an invoice says, fixed when it is drafted: never rewritten once it has a number."""

    id: str
    kind: InvoiceKind
    partner_id: str
    issuer: Party
    customer: Party
    currency: str
    period_start: UtcDateTime
    period_end: UtcDateTime
    lines: list[InvoiceLine]
    subtotal_cents: int
    vat: Vat
    total_cents: int
    usage: dict[str, int] = Field(description="The metered units of the period, as the meter summed them.")
    payment_details: str
    credits_invoice_id: str | None = Field(
        default=None, description="A credit note: the invoice it corrects."
    )
    credits_number: str | None = None
    reason: str | None = None


class InvoiceOut(InvoiceDocument):
    """An issued invoice or credit note: its document, its number and where its payment stands."""

    number: str
    status: InvoiceStatus
    issued_at: UtcDateTime
    due_at: UtcDateTime
    status_changed_at: UtcDateTime | None = None
    credited_cents: int = Field(
        default=0,
        description="An invoice: what its credit notes have taken off it, VAT included "
        "(0 for a credit note). It stays open or paid until fully credited, then it is void.",
    )
    credit_note_ids: list[str] = Field(
        default_factory=list, description="An invoice: the credit notes correcting it, oldest first."
    )


class InvoiceList(ApiModel):
    items: list[InvoiceOut]
    continuation_token: str | None = None


class InvoiceStatusIn(ApiInput):
    status: InvoiceStatus


class CreditNoteIn(ApiInput):
    """A credit note of the whole invoice (neither `lines` nor `amountCents`: whatever is left of it),
    of some of its lines, or of an amount."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    lines: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Positions (from 0) in the invoice's `lines` to credit in full; a line is credited once.",
    )
    amount_cents: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="An amount to credit, before VAT; VAT follows at the invoice's rate."
    )

    @model_validator(mode="after")
    def _one_way(self) -> CreditNoteIn:
        if self.lines is not None and self.amount_cents is not None:
            raise ValueError("Credit either lines or an amount, not both.")
        if self.lines is not None and len(set(self.lines)) != len(self.lines):
            raise ValueError("A line is named twice.")
        return self

    @property
    def whole(self) -> bool:
        return self.lines is None and self.amount_cents is None


class CloseReport(ApiModel):
    partners: int
    invoiced: int = Field(
        description="Partners whose latest ended cycle has its invoice (issued now or before)."
    )
    past_due: int = Field(description="Subscriptions this run moved to past_due.")
    failed: int = Field(description="Partners whose close failed (logged; the next run retries them).")
    issued: int = Field(
        default=0,
        description="Invoices this run issued: more than one for a partner whose cycles it caught up.",
    )
