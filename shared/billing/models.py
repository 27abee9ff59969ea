"""What partner apps and the operator send and receive about invoices, credit notes and billing details."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

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


class InvoiceList(ApiModel):
    items: list[InvoiceOut]
    continuation_token: str | None = None


class InvoiceStatusIn(ApiInput):
    status: InvoiceStatus


class CreditNoteIn(ApiInput):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class CloseReport(ApiModel):
    partners: int
    invoiced: int = Field(
        description="Partners whose latest ended cycle has its invoice (issued now or before)."
    )
    past_due: int = Field(description="Subscriptions this run moved to past_due.")
    failed: int = Field(description="Partners whose close failed (logged; the next run retries them).")
