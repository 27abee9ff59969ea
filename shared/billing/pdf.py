"""An invoice or credit note as a PDF (fpdf2): the same data as its JSON, laid out as a person expects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.billing.models import InvoiceKind, InvoiceOut, InvoiceStatus, Party


def money(amount_cents: int, currency: str) -> str:
    return f"{currency} {Decimal(amount_cents) / 100:,.2f}"


def _text(value: str) -> str:
    # The PDF core fonts hold Latin-1 only; anything else prints as '?' rather than failing the PDF.
    return value.replace("\u2013", "-").replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def _party(label: str, party: Party) -> list[str]:
    lines = [label, party.name]
    if party.address:
        lines.append(party.address)
    if party.country:
        lines.append(f"Country: {party.country}")
    if party.vat_number:
        lines.append(f"VAT number: {party.vat_number}")
    if party.chamber_of_commerce:
        lines.append(f"Chamber of commerce: {party.chamber_of_commerce}")
    return lines


def render(invoice: InvoiceOut) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"{_title(invoice)} {invoice.number}"))
    pdf.set_author(_text(invoice.issuer.name))
    pdf.set_creation_date(invoice.issued_at)
    pdf.add_page()
    _head(pdf, invoice)
    _lines(pdf, invoice)
    return bytes(pdf.output())


def _row(pdf: Any, text: str, *, bold: bool = False, size: int = 9) -> None:
    from fpdf.enums import XPos, YPos

    pdf.set_font("Helvetica", style="B" if bold else "", size=size)
    pdf.multi_cell(0, 5, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _head(pdf: Any, invoice: InvoiceOut) -> None:
    _row(pdf, f"{_title(invoice)} {invoice.number}", bold=True, size=16)
    pdf.ln(3)
    for label, party in (("From", invoice.issuer), ("To", invoice.customer)):
        for index, text in enumerate(_party(label, party)):
            _row(pdf, text, bold=index == 0)
        pdf.ln(3)
    _row(pdf, f"Invoice date: {invoice.issued_at:%Y-%m-%d}")
    _row(pdf, f"Due date: {invoice.due_at:%Y-%m-%d}")
    _row(pdf, f"Period: {invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}")
    _row(pdf, f"Customer reference: {invoice.partner_id}")
    if invoice.credits_number:
        _row(pdf, f"Corrects invoice {invoice.credits_number}", bold=True)
    if invoice.reason:
        _row(pdf, f"Reason: {invoice.reason}")
    _row(pdf, f"Status: {invoice.status.value}")
    if invoice.credited_cents:
        notes = len(invoice.credit_note_ids)
        _row(
            pdf,
            f"Credited: {money(invoice.credited_cents, invoice.currency)} by {notes} credit "
            f"note{'s' if notes != 1 else ''}; left: "
            f"{money(invoice.total_cents - invoice.credited_cents, invoice.currency)}",
            bold=True,
        )
    pdf.ln(4)


def _lines(pdf: Any, invoice: InvoiceOut) -> None:
    widths = (100, 22, 28, 40)
    pdf.set_font("Helvetica", style="B", size=9)
    headings = ("Description", "Quantity", "Unit price", "Amount")
    for width, heading, align in zip(widths, headings, ("L", "R", "R", "R"), strict=True):
        pdf.cell(width, 6, heading, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    currency = invoice.currency
    for item in invoice.lines:
        unit_price = f"{Decimal(item.unit_price_cents) / 100:,.4f}".rstrip("0").rstrip(".")
        pdf.cell(widths[0], 6, _text(item.description[:70]))
        pdf.cell(widths[1], 6, f"{item.quantity:,}", align="R")
        pdf.cell(widths[2], 6, unit_price, align="R")
        pdf.cell(widths[3], 6, money(item.amount_cents, currency), align="R")
        pdf.ln()
    pdf.ln(2)
    totals = (
        ("Subtotal", invoice.subtotal_cents, False),
        (f"VAT {invoice.vat.rate_percent}%", invoice.vat.amount_cents, False),
        ("Total", invoice.total_cents, True),
    )
    for label, amount, bold in totals:
        pdf.set_font("Helvetica", style="B" if bold else "", size=10 if bold else 9)
        pdf.cell(sum(widths[:3]), 6, _text(label), align="R")
        pdf.cell(widths[3], 6, money(amount, currency), align="R")
        pdf.ln()
    pdf.ln(4)
    _row(pdf, invoice.vat.note, size=8)
    owed = invoice.total_cents - invoice.credited_cents
    if invoice.kind is InvoiceKind.INVOICE and invoice.status is InvoiceStatus.OPEN and owed > 0:
        _row(
            pdf,
            f"Please pay {money(owed, currency)} by {invoice.due_at:%Y-%m-%d} to "
            f"{invoice.payment_details}, quoting {invoice.number}.",
            size=8,
        )


def _title(invoice: InvoiceOut) -> str:
    return "Credit note" if invoice.kind is InvoiceKind.CREDIT_NOTE else "Invoice"
