"""Invoice endpoints: the partner reads its invoices (JSON and PDF), the operator closes cycles,
sets an invoice's status and issues credit notes; a daily timer closes the cycles that ended."""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import Field

from functions import deps
from functions.auth import PartnerContext, operator_on_partner, operator_only, partner_access
from functions.http import Call, Created, RouteParams, Ulid, endpoint
from shared.access.principals import SYSTEM, Scope
from shared.audit.context import ActionContext
from shared.billing.invoices import close_region, partner_ids_in
from shared.billing.models import (
    CloseReport,
    CreditNoteIn,
    InvoiceList,
    InvoiceOut,
    InvoiceStatusIn,
)
from shared.errors import ProblemError
from shared.models import PageQuery

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger("tenantry.billing")

# Invoices name the partner's administration details and what it owes: its owners and admins
# (manageAccess) read them, callers limited to some tenants do not.
_BILLING_READ = partner_access(Scope.MANAGE_ACCESS, operator=True, every_tenant=True)


class InvoiceRoute(RouteParams):
    missing = "No such invoice."
    invoice_id: Ulid = Field(alias="invoiceId")


@endpoint(
    bp,
    "partners/{partnerId}/invoices",
    methods=["GET"],
    summary="The partner's issued invoices and credit notes, oldest first.",
    tag="invoices",
    auth=_BILLING_READ,
)
def list_invoices(call: Call, context: PartnerContext, query: PageQuery) -> InvoiceList:
    return deps.invoices(context.partner).list_invoices(query.top, query.continuation_token)


@endpoint(
    bp,
    "partners/{partnerId}/invoices/{invoiceId}",
    methods=["GET"],
    summary="One invoice or credit note.",
    tag="invoices",
    auth=_BILLING_READ,
)
def get_invoice(call: Call, context: PartnerContext, route: InvoiceRoute) -> InvoiceOut:
    return deps.invoices(context.partner).get_invoice(route.invoice_id)


@endpoint(
    bp,
    "partners/{partnerId}/invoices/{invoiceId}/pdf",
    methods=["GET"],
    summary="One invoice or credit note as a PDF (the same data as its JSON).",
    tag="invoices",
    auth=_BILLING_READ,
    media_type="application/pdf",
)
def get_invoice_pdf(call: Call, context: PartnerContext, route: InvoiceRoute) -> func.HttpResponse:
    service = deps.invoices(context.partner)
    number = service.get_invoice(route.invoice_id).number
    return func.HttpResponse(
        service.render_pdf(route.invoice_id),
        status_code=200,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{number}.pdf"'},
    )


# --- the operator ----------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/invoices",
    methods=["POST"],
    summary="Issue the invoice of the partner's latest ended cycle (again: the same invoice).",
    tag="invoices",
    auth=operator_on_partner,
)
def close_partner_cycle(call: Call, context: PartnerContext) -> InvoiceOut:
    invoice = deps.invoices(context.partner).close_cycle(context.action)
    if invoice is None:
        raise ProblemError(
            409, "no-ended-cycle", "No cycle has ended yet.", "The partner's first cycle is still running."
        )
    return invoice


@endpoint(
    bp,
    "operator/invoices/close",
    methods=["POST"],
    summary="Issue every partner's invoice of its latest ended cycle and apply the past-due rule.",
    tag="invoices",
    auth=operator_only,
)
def close_all_cycles(operator: ActionContext) -> CloseReport:
    return _close_everywhere(operator)


@endpoint(
    bp,
    "partners/{partnerId}/invoices/{invoiceId}/status",
    methods=["PUT"],
    summary="Payment: mark an invoice open, paid or void (void is final).",
    tag="invoices",
    auth=operator_on_partner,
)
def set_invoice_status(
    call: Call, context: PartnerContext, route: InvoiceRoute, body: InvoiceStatusIn
) -> InvoiceOut:
    return deps.invoices(context.partner).update_status(route.invoice_id, body.status, context.action)


@endpoint(
    bp,
    "partners/{partnerId}/invoices/{invoiceId}/credit-note",
    methods=["POST"],
    summary="Correct an issued invoice: a credit note of what is left of it, of some lines or of an "
    "amount, numbered in the same series; never more than the invoice's total.",
    tag="invoices",
    auth=operator_on_partner,
    idempotent=True,
)
def create_credit_note(
    call: Call, context: PartnerContext, route: InvoiceRoute, body: CreditNoteIn
) -> Created[InvoiceOut]:
    note = deps.invoices(context.partner).create_credit_note(route.invoice_id, body, context.action)
    return Created(note, f"/api/partners/{context.partner.id}/invoices/{note.id}")


def _close_everywhere(context: ActionContext) -> CloseReport:
    # The tenant census first: days it missed while the host was down are filled before the
    # cycles holding them are invoiced (the census's own timer may not have run yet).
    from shared.tenants.metering import record_daily_tenants

    try:
        record_daily_tenants(deps.settings().regions, deps.storage().region, deps.usage)
    except Exception:  # the census's own timer retries it; the invoices still go out
        log.exception("invoice close: catching up the tenant census failed")
    total = CloseReport(partners=0, invoiced=0, past_due=0, failed=0)
    for region in deps.settings().regions:
        report = close_region(
            partner_ids_in(deps.storage().region(region)),
            lambda partner_id: deps.invoices(deps.partners().get(partner_id)),
            context,
        )
        total = CloseReport(
            partners=total.partners + report.partners,
            invoiced=total.invoiced + report.invoiced,
            past_due=total.past_due + report.past_due,
            failed=total.failed + report.failed,
            issued=total.issued + report.issued,
        )
    return total


@bp.timer_trigger(arg_name="timer", schedule="0 20 1 * * *", run_on_startup=False)
def invoice_close_timer(timer: func.TimerRequest) -> None:
    """Daily: the cycles that ended get their invoices (those missed while the host was down too,
    oldest first), and overdue partners turn read-only."""
    report = _close_everywhere(ActionContext(SYSTEM))
    log.info(
        "invoice timer: %d partners, %d invoiced, %d invoices issued, %d past due, %d failed",
        report.partners,
        report.invoiced,
        report.issued,
        report.past_due,
        report.failed,
    )
