"""Subscription and usage, invoices, and alerts in the browser: an owner sees the plans and this
month's usage, downloads an invoice's PDF, subscribes a webhook to alerts through the portal and sees
the delivery of an alert (an invoice issued) listed with its attempt."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web

if TYPE_CHECKING:
    from localdev.webhook_receiver import RunningReceiver
    from shared.storage.router import StorageRouter
    from tests.e2e.actors import PartnerSetup


def looked_at(page: Page, name: str) -> None:
    """What every page gets: a screenshot, axe, and a walk through it with Tab (loaded afresh first,
    so the walk starts at the top rather than at whatever was clicked last)."""
    screenshot(page, name)
    heading = page.get_by_role("heading", level=1).inner_text()
    page.goto(page.url)
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")
    check_accessibility(page)
    check_keyboard(page)


@dataclass(frozen=True)
class Billed:
    partner: PartnerSetup
    owner: str  # the owner's display name, as the dev issuer's picker shows it
    plan: str  # a plan the operator published, on offer to the partner


@pytest.fixture(scope="module")
def billed(api: str, router: StorageRouter) -> Billed:
    """A partner whose first monthly cycle ended (begun 40 days ago, as tests/e2e/test_invoices_api.py
    makes one), with API calls metered this month, and its owner."""
    from functions import deps
    from shared.access.principals import Actor
    from shared.audit.context import ActionContext
    from shared.clock import SystemClock
    from shared.partners.directory import PartnerDirectory
    from shared.partners.models import PartnerIn
    from shared.partners.service import PartnerService
    from shared.usage import Unit, UsageMeter
    from tests.clocks import MovableClock
    from tests.e2e.actors import OPERATOR, PartnerSetup

    suffix = uuid.uuid4().hex[:6]
    owner = f"Billing Bea {suffix}"
    now = SystemClock().now()
    service = PartnerService(
        router,
        PartnerDirectory(router),
        MovableClock(now - timedelta(days=40)),
        deps.key_ring(deps.settings()),
    )
    owner_id = str(uuid.uuid4())
    body = PartnerIn.model_validate(
        {
            "displayName": f"Billed IT {suffix}",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@billed.example"},
            "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            "owner": {"objectId": owner_id, "email": f"bea-{suffix}@billed.example", "displayName": owner},
        }
    )
    created = service.create(body, ActionContext(Actor("operator", "operator")))
    UsageMeter(router.region("eu"), SystemClock()).record_many(
        created.id, Unit.API_CALLS, [f"call-{suffix}-{i}" for i in range(42)]
    )
    key = web.post(
        f"{api}/api/partners/{created.id}/api-keys", headers=OPERATOR, json={"name": "k", "scopes": ["read"]}
    )
    assert key.status_code == 201, key.text
    partner = PartnerSetup(
        api, created.id, str(body.entra_tenant_id), owner_id, "", key.json()["key"], key.json()["id"]
    )
    # A plan of its own (the catalogue is shared; test_self_service.py publishes its own the same way).
    plan = f"agency-{suffix}"
    body_plan = {
        "displayName": plan,
        "tenantLimit": 250,
        "monthlyPriceCents": 49900,
        "annualPriceCents": 499000,
    }
    published = web.put(f"{api}/api/operator/plans/{plan}", json=body_plan, headers=OPERATOR)
    assert published.status_code == 200, published.text
    return Billed(partner, owner, plan)


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningReceiver]:
    from localdev.webhook_receiver import start_receiver

    running = start_receiver()
    yield running
    running.stop()


def _issue_invoice(partner: PartnerSetup) -> dict[str, Any]:
    from tests.e2e.actors import OPERATOR

    issued = web.post(f"{partner.url}/invoices", headers=OPERATOR)
    assert issued.status_code == 200, issued.text
    invoice: dict[str, Any] = issued.json()
    return invoice


def test_the_owner_subscribes_a_webhook_and_sees_an_alert_delivered(
    page: Page, billed: Billed, receiver: RunningReceiver
) -> None:
    from localdev.stack import wait_until

    partner = billed.partner
    hook = f"/hook-{uuid.uuid4().hex}"
    sign_in(page, billed.owner)
    page.get_by_role("navigation").get_by_role("link", name="Alerts and notices").click()
    expect(page.get_by_role("heading", name="Alerts and notices", level=1)).to_be_visible()
    expect(page.get_by_text(re.compile("^No alert subscriptions yet"))).to_be_visible()
    expect(page.get_by_role("heading", name="Notices", level=2)).to_be_visible()

    page.get_by_role("button", name="Subscribe to alerts").click()
    dialog = page.get_by_role("dialog", name="Subscribe to alerts")
    # The form says what is missing before anything is sent.
    dialog.get_by_role("button", name="Subscribe", exact=True).click()
    expect(dialog.get_by_text("Fill this in.")).to_be_visible()
    expect(dialog.get_by_text("Choose at least one.").first).to_be_visible()
    dialog.get_by_label("Channel").select_option("webhook")
    dialog.get_by_label("Address (URL)").fill(receiver.url(hook))
    dialog.get_by_label("Invoices issued (invoice.*)").check()
    dialog.get_by_label("Description", exact=True).fill("Finance hook")
    dialog.get_by_role("button", name="Subscribe", exact=True).click()

    # The secret is shown once, and the subscription is listed.
    expect(page.get_by_role("heading", name="Subscribed.", level=2)).to_be_visible()
    secret = page.get_by_label("Signing secret")
    expect(secret).to_have_value(re.compile(r"^whsec_"))
    row = page.get_by_role("row").filter(has_text="Finance hook")
    expect(row.get_by_text("invoice.*")).to_be_visible()
    expect(row.get_by_text("On", exact=True)).to_be_visible()
    looked_at(page, "alerts")
    expect(page.get_by_label("Signing secret")).to_have_count(0)  # never shown again

    [subscription] = web.get(f"{partner.url}/alert-subscriptions", headers=partner.as_key).json()["items"]
    assert subscription["eventTypes"] == ["invoice.*"] and subscription["url"] == receiver.url(hook)

    # An alert happens: the operator issues the partner's invoice; the receiver gets it.
    invoice = _issue_invoice(partner)
    wait_until(lambda: receiver.state.at(hook), timeout=60, what="the webhook")
    wait_until(
        lambda: [
            d
            for d in web.get(
                f"{partner.url}/alert-subscriptions/{subscription['id']}/deliveries", headers=partner.as_key
            ).json()["items"]
            if d["state"] == "delivered"
        ],
        what="the delivery log",
    )

    page.get_by_role("link", name="Finance hook").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Webhook: http"), level=1)).to_be_visible()
    deliveries = page.get_by_role("table", name="Deliveries")
    title = f"Invoice {invoice['number']} issued"
    delivered = deliveries.get_by_role("row").filter(has_text=title)
    expect(delivered.get_by_text("Delivered", exact=True)).to_be_visible()
    expect(delivered.get_by_role("cell", name="200", exact=True)).to_be_visible()
    looked_at(page, "alerts-subscription")

    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    attempts = page.get_by_role("table", name="Attempts of this delivery")
    expect(attempts.get_by_role("cell", name="200", exact=True)).to_be_visible()
    looked_at(page, "alerts-delivery")


def test_the_owner_sees_plans_and_usage_and_downloads_an_invoice(
    page: Page, billed: Billed, tmp_path: Path
) -> None:
    partner = billed.partner
    invoice = _issue_invoice(partner)  # the same invoice when the other test issued it already
    sign_in(page, billed.owner)
    page.get_by_role("navigation").get_by_role("link", name="Subscription and usage").click()
    expect(page.get_by_role("heading", name="Subscription and usage", level=1)).to_be_visible()
    plans = page.get_by_role("table", name="Plans on offer")
    offered = plans.get_by_role("row").filter(has_text=billed.plan)
    expect(offered.get_by_role("button", name=f"Change to {billed.plan}")).to_be_visible()
    expect(offered.get_by_text("250")).to_be_visible()  # the tenant limit as published
    usage = page.get_by_role("table", name=re.compile(r"^Billable units in \d{4}-\d{2}$"))
    expect(usage.get_by_role("row").filter(has_text="API calls")).to_be_visible()
    expect(page.get_by_role("button", name="End subscription")).to_be_visible()
    looked_at(page, "account-subscription")

    page.get_by_role("link", name="Invoices", exact=True).click()
    expect(page.get_by_role("heading", name="Invoices", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=invoice["number"])
    status = {"open": "Open", "paid": "Paid", "void": "Void"}[invoice["status"]]
    expect(row.get_by_text(status, exact=True)).to_be_visible()
    with page.expect_download() as downloading:
        row.get_by_role("button", name=f"Download PDF of {invoice['number']}").click()
    download = downloading.value
    assert download.suggested_filename == f"{invoice['number']}.pdf"
    saved = tmp_path / "invoice.pdf"
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    looked_at(page, "account-invoices")

    page.get_by_role("link", name=invoice["number"]).click()
    expect(page.get_by_role("heading", name=f"Invoice {invoice['number']}", level=1)).to_be_visible()
    lines = page.get_by_role("table", name=f"Lines of {invoice['number']}")
    expect(lines.get_by_role("row", name=re.compile(r"^Total "))).to_be_visible()
    for line in invoice["lines"]:
        expect(lines.get_by_role("cell", name=line["description"], exact=True)).to_be_visible()
    looked_at(page, "account-invoice")

    page.get_by_role("link", name="Back to all invoices").click()
    page.get_by_role("link", name="Administration", exact=True).click()
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    page.get_by_label("Legal name").fill("Billed IT B.V.")
    page.get_by_label("Country").fill("nl")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Two capital letters, e.g. NL.")).to_be_visible()
    page.get_by_label("Country").fill("NL")
    page.get_by_label("Address", exact=True).fill("Kade 2")
    page.get_by_label("Postal code").fill("3511 AA")
    page.get_by_label("City").fill("Utrecht")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved. Invoices drafted from now on show these details.")).to_be_visible()
    stored = web.get(f"{partner.url}/administration", headers=partner.bearer()).json()
    assert stored["legalName"] == "Billed IT B.V." and stored["address"]["city"] == "Utrecht"
    looked_at(page, "account-administration")
