"""Invoices over HTTP: a partner whose first cycle ended (its subscription stored as begun 40 days
ago, the host's clock being the real one) gets one invoice per cycle from the operator's close,
reads it as JSON and as a PDF, sees a credit note correct it; keys, other partners and bad input
are refused with problem+json."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from pypdf import PdfReader

from functions import deps
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.billing.pdf import money
from shared.clock import SystemClock
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import PartnerService
from shared.storage.router import StorageRouter
from shared.usage import Unit, UsageMeter
from tests.clocks import MovableClock
from tests.e2e.actors import OPERATOR, PartnerSetup, make_partner
from tests.web import web

PROBLEM = "application/problem+json"
OPERATOR_ACTION = ActionContext(Actor("operator", "operator"))


def _partner_begun_40_days_ago(api: str, router: StorageRouter, days: int = 40) -> PartnerSetup:
    """Written straight to storage with a clock `days` back, before the host has ever read it."""
    started = SystemClock().now() - timedelta(days=days)
    service = PartnerService(
        router,
        PartnerDirectory(router),
        MovableClock(started),
        deps.key_ring(deps.settings()),
    )
    owner = str(uuid.uuid4())
    body = PartnerIn.model_validate(
        {
            "displayName": "Billed IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@billed.example"},
            "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            "owner": {"objectId": owner, "email": "owner@billed.example"},
        }
    )
    partner = service.create(body, OPERATOR_ACTION)
    meter = UsageMeter(router.region("eu"), MovableClock(started + timedelta(days=3)))
    meter.record_many(partner.id, Unit.API_CALLS, [f"call-{i}" for i in range(500)])
    key = web.post(
        f"{api}/api/partners/{partner.id}/api-keys", headers=OPERATOR, json={"name": "k", "scopes": ["read"]}
    )
    assert key.status_code == 201, key.text
    return PartnerSetup(
        api, partner.id, str(body.entra_tenant_id), owner, "", key.json()["key"], key.json()["id"]
    )


def test_a_partner_reads_its_invoice_and_pdf_and_the_operator_corrects_it(
    api: str, router: StorageRouter
) -> None:
    partner = _partner_begun_40_days_ago(api, router)
    owner = partner.bearer()
    fields = {
        "legalName": "Billed IT B.V.",
        "address": {"line1": "Kade 2", "postalCode": "3511 AA", "city": "Utrecht", "country": "NL"},
        "vatNumber": "NL123456789B01",
    }
    patched = web.patch(f"{partner.url}/administration", headers=owner, json=fields)
    assert patched.status_code == 200, patched.text

    first = web.post(f"{partner.url}/invoices", headers=OPERATOR)
    assert first.status_code == 200, first.text
    invoice = first.json()
    again = web.post(f"{partner.url}/invoices", headers=OPERATOR)
    assert again.json()["id"] == invoice["id"] and again.json()["number"] == invoice["number"]
    assert invoice["customer"]["name"] == "Billed IT B.V." and invoice["vat"]["treatment"] == "domestic"
    calls = next(line for line in invoice["lines"] if line.get("unit") == "apiCalls")
    assert calls["quantity"] >= 500  # the seeded calls, and the few of this test itself
    assert invoice["totalCents"] == invoice["subtotalCents"] + invoice["vat"]["amountCents"]

    listed = web.get(f"{partner.url}/invoices", headers=owner).json()
    assert [i["id"] for i in listed["items"]] == [invoice["id"]] and listed["continuationToken"] is None
    assert web.get(f"{partner.url}/invoices/{invoice['id']}", headers=owner).json() == invoice
    pdf = web.get(f"{partner.url}/invoices/{invoice['id']}/pdf", headers=owner)
    assert pdf.status_code == 200 and pdf.headers["content-type"].startswith("application/pdf")
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert invoice["number"] in text and money(invoice["totalCents"], "EUR") in text

    note = web.post(
        f"{partner.url}/invoices/{invoice['id']}/credit-note",
        headers=OPERATOR,
        json={"reason": "Wrong address"},
    )
    assert note.status_code == 201, note.text
    assert note.headers["location"].endswith(f"/invoices/{note.json()['id']}")
    assert note.json()["totalCents"] == -invoice["totalCents"]
    assert note.json()["creditsNumber"] == invoice["number"]
    statuses = {
        i["id"]: i["status"] for i in web.get(f"{partner.url}/invoices", headers=owner).json()["items"]
    }
    assert statuses[invoice["id"]] == "void" and len(statuses) == 2
    paid = web.put(
        f"{partner.url}/invoices/{note.json()['id']}/status", headers=OPERATOR, json={"status": "paid"}
    )
    assert paid.status_code == 200 and paid.json()["status"] == "paid"

    # A read-only API key, another partner, the partner's owner on an operator route: refused.
    assert web.get(f"{partner.url}/invoices", headers=partner.as_key).status_code == 403
    stranger = make_partner(api, "eu")
    foreign = web.get(f"{partner.url}/invoices/{invoice['id']}", headers=stranger.bearer())
    assert foreign.status_code == 404 and foreign.headers["content-type"].startswith(PROBLEM)
    assert web.get(f"{stranger.url}/invoices/{invoice['id']}", headers=stranger.bearer()).status_code == 404
    assert web.post(f"{partner.url}/invoices", headers=owner).status_code == 403


def test_bad_input_is_refused_with_a_problem_and_changes_nothing(api: str) -> None:
    partner = make_partner(api, "eu")
    owner = partner.bearer()
    no_cycle = web.post(f"{partner.url}/invoices", headers=OPERATOR)
    assert no_cycle.status_code == 409 and no_cycle.json()["type"].endswith("no-ended-cycle")
    bad_fields = web.patch(
        f"{partner.url}/administration",
        headers=owner,
        json={"legalName": "X", "address": {"line1": "Kade 2", "city": "Utrecht", "country": "nl"}},
    )
    assert bad_fields.status_code == 422 and bad_fields.headers["content-type"].startswith(PROBLEM)
    stored = web.get(f"{partner.url}/administration", headers=owner).json()
    assert not any(stored.values())  # nothing written
    unknown = "01" + "A" * 24
    assert web.get(f"{partner.url}/invoices/not-an-id", headers=owner).status_code == 404
    assert web.get(f"{partner.url}/invoices/{unknown}/pdf", headers=owner).status_code == 404
    bad_status = web.put(
        f"{partner.url}/invoices/{unknown}/status", headers=OPERATOR, json={"status": "late"}
    )
    assert bad_status.status_code == 422
    empty_reason = web.post(
        f"{partner.url}/invoices/{unknown}/credit-note", headers=OPERATOR, json={"reason": ""}
    )
    assert empty_reason.status_code == 422


def test_cycles_missed_while_nothing_closed_them_are_invoiced_in_order_once(
    api: str, router: StorageRouter
) -> None:
    partner = _partner_begun_40_days_ago(api, router, days=70)  # two cycles ended, none closed
    closed = web.post(f"{partner.url}/invoices", headers=OPERATOR)
    assert closed.status_code == 200, closed.text
    listed = web.get(f"{partner.url}/invoices", headers=partner.bearer()).json()["items"]
    assert len(listed) == 2 and listed[-1]["id"] == closed.json()["id"]  # the latest is answered
    first, second = listed
    assert first["periodEnd"] == second["periodStart"]  # the earlier cycle, then the one after it
    assert int(first["number"].rsplit("-", 1)[1]) < int(second["number"].rsplit("-", 1)[1])
    calls = next(line for line in first["lines"] if line.get("unit") == "apiCalls")
    assert calls["quantity"] == 500  # the calls seeded on day 3 are the first cycle's
    again = web.post(f"{partner.url}/invoices", headers=OPERATOR)
    assert again.json()["id"] == second["id"]
    assert len(web.get(f"{partner.url}/invoices", headers=partner.bearer()).json()["items"]) == 2


def test_partial_credit_notes_over_http_and_the_refusal_names_what_is_left(
    api: str, router: StorageRouter
) -> None:
    partner = _partner_begun_40_days_ago(api, router)
    handled = UsageMeter(router.region("eu"), MovableClock(SystemClock().now() - timedelta(days=35)))
    handled.record_many(partner.id, Unit.SUBJECT_REQUESTS_HANDLED, ["r1", "r2", "r3", "r4"])
    invoice = web.post(f"{partner.url}/invoices", headers=OPERATOR).json()
    url = f"{partner.url}/invoices/{invoice['id']}"
    calls = next(i for i, line in enumerate(invoice["lines"]) if line.get("unit") == "apiCalls")
    plan = web.post(f"{url}/credit-note", headers=OPERATOR, json={"reason": "Calls", "lines": [calls]})
    assert plan.status_code == 201, plan.text
    assert plan.json()["lines"][0]["amountCents"] == -invoice["lines"][calls]["amountCents"] < 0
    assert plan.json()["creditsInvoiceId"] == invoice["id"]
    shown = web.get(url, headers=partner.bearer()).json()
    assert (shown["status"], shown["creditedCents"]) == ("open", -plan.json()["totalCents"])
    assert shown["creditNoteIds"] == [plan.json()["id"]]
    left = invoice["totalCents"] + plan.json()["totalCents"]

    too_much = web.post(
        f"{url}/credit-note", headers=OPERATOR, json={"reason": "Too much", "amountCents": 10**9}
    )
    assert too_much.status_code == 409 and too_much.headers["content-type"].startswith(PROBLEM)
    assert too_much.json()["remainingCents"] == left
    assert money(left, "EUR") in too_much.json()["detail"]
    both = web.post(
        f"{url}/credit-note", headers=OPERATOR, json={"reason": "x", "lines": [1], "amountCents": 5}
    )
    assert both.status_code == 422 and both.headers["content-type"].startswith(PROBLEM)
    no_line = web.post(f"{url}/credit-note", headers=OPERATOR, json={"reason": "x", "lines": [999]})
    assert no_line.status_code == 422 and no_line.json()["type"].endswith("no-such-line")

    rest = web.post(f"{url}/credit-note", headers=OPERATOR, json={"reason": "The rest"})
    assert rest.status_code == 201 and rest.json()["totalCents"] == -left
    final = web.get(url, headers=partner.bearer()).json()
    assert (final["status"], final["creditedCents"]) == ("void", invoice["totalCents"])
    text = (
        PdfReader(
            io.BytesIO(
                web.get(f"{partner.url}/invoices/{rest.json()['id']}/pdf", headers=partner.bearer()).content
            )
        )
        .pages[0]
        .extract_text()
    )
    assert f"Corrects invoice {invoice['number']}" in text
