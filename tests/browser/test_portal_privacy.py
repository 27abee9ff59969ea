"""The privacy and records areas in the browser: a data-subject request filed, verified and approved;
breaches with their 72-hour clock; the record of processing; complaints and correspondence."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web


def looked_at(page: Page, name: str) -> None:
    """What every page of the area gets: a screenshot, axe, and a walk through it with Tab.

    The page is loaded afresh first: after a click, Chromium starts the Tab order at what was clicked
    (blurring does not move that start), so the walk would begin mid-page and miss the shell."""
    screenshot(page, name)
    heading = page.get_by_role("heading", level=1).inner_text()
    page.goto(page.url)
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")
    check_accessibility(page)
    check_keyboard(page)


@pytest.fixture(scope="module")
def end_user(demo: Demo) -> dict[str, Any]:
    """An end user of the demo's first tenant, once its first sync has brought them in."""
    from localdev.stack import wait_until

    partner = demo.partner
    tenants = web.get(f"{partner.url}/tenants", headers=partner.as_key).json()["items"]
    tenant = next(t for t in tenants if t["displayName"] == demo.tenant)

    def users() -> list[dict[str, Any]] | None:
        got = web.get(f"{partner.url}/tenants/{tenant['id']}/users?top=5", headers=partner.as_key)
        items: list[dict[str, Any]] = got.json().get("items", []) if got.status_code == 200 else []
        return items or None

    return wait_until(users, timeout=60, what="the tenant's users after its first sync")[0]


def test_the_owner_files_verifies_and_approves_a_data_subject_request(
    page: Page, demo: Demo, end_user: dict[str, Any]
) -> None:
    sign_in(page, demo.owner)
    page.get_by_role("navigation").get_by_role("link", name="Privacy").click()
    expect(page.get_by_role("heading", name="Data-subject requests", level=1)).to_be_visible()
    looked_at(page, "privacy-requests")

    page.get_by_role("button", name="File a request").click()
    dialog = page.get_by_role("dialog", name="File a data-subject request")
    # The form says what is missing before anything is sent.
    dialog.get_by_role("button", name="File request").click()
    expect(dialog.get_by_text("Choose the tenant or organisation.")).to_be_visible()
    expect(dialog.get_by_text("Fill this in.")).to_be_visible()
    dialog.get_by_label("Kind").select_option("erasure")
    dialog.get_by_role("combobox", name="Tenant").select_option(label=demo.tenant)
    dialog.get_by_label("Entra object ID (end user)").fill(end_user["id"])
    dialog.get_by_label("Your reference").fill("TICKET-4711")
    dialog.get_by_role("button", name="File request").click()

    # The request's own page: received, due in 30 days.
    title = f"Erasure: End user {end_user['id']}"
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.get_by_text("Received", exact=True).last).to_be_visible()
    expect(page.get_by_text(re.compile(r"· 30 days left$"))).to_be_visible()
    looked_at(page, "privacy-request-received")

    page.get_by_role("button", name="Verify identity").click()
    verify = page.get_by_role("dialog", name="Record how the person's identity was verified")
    verify.get_by_label("How").select_option("controllerConfirmed")
    verify.get_by_label("What exactly was checked").fill("The customer's DPO confirmed the request by phone.")
    verify.get_by_role("button", name="Record verification").click()
    expect(page.get_by_text("Identity verified. The request now awaits approval.")).to_be_visible()
    expect(page.get_by_text("Awaiting approval", exact=True)).to_be_visible()

    page.get_by_role("button", name="Approve", exact=True).click()
    page.get_by_role("dialog", name="Approve this request?").get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Approved. Execute it to carry it out.")).to_be_visible()
    expect(page.get_by_text("Approved", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Execute")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^by Demo Admin .+, "))).to_be_visible()
    looked_at(page, "privacy-request-approved")

    # The API holds what the page said, and the list shows its state and deadline.
    requests = web.get(f"{demo.partner.url}/privacy/requests", headers=demo.partner.as_key).json()["items"]
    filed = next(r for r in requests if r["reference"] == "TICKET-4711")
    assert filed["state"] == "approved" and filed["type"] == "erasure"
    assert filed["verification"]["method"] == "controllerConfirmed"
    page.get_by_role("link", name="Back to all data-subject requests").click()
    row = page.get_by_role("row").filter(has_text="TICKET-4711")
    expect(row.get_by_text("Approved", exact=True)).to_be_visible()
    expect(row.get_by_text(re.compile(r"· 30 days left$"))).to_be_visible()

    # Carried out: the page follows the job until it completes, then shows the erasure certificate.
    row.get_by_role("link").first.click()
    page.get_by_role("button", name="Execute").click()
    carry_out = page.get_by_role("dialog", name="Carry out this request now?")
    carry_out.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Completed", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Erasure: Erased subject", level=1)).to_be_visible()
    page.get_by_role("button", name="Show certificate").click()
    expect(page.get_by_role("table", name="Deleted").get_by_role("row").nth(1)).to_be_visible()
    screenshot(page, "privacy-request-certificate")


def test_breaches_show_the_time_left_to_notify_and_the_record_of_processing_reads_as_a_table(
    page: Page, demo: Demo, api: str
) -> None:
    from tests.e2e.actors import OPERATOR

    nature = f"Export link sent to the wrong address {uuid.uuid4().hex[:6]}"
    aware = datetime.now(UTC) - timedelta(hours=60)
    breach = {
        "region": "eu",
        "nature": nature,
        "dataCategories": ["end-user data"],
        "approxSubjects": 3,
        "approxRecords": 9,
        "contactPoint": {"name": "DPO", "email": "dpo@tenantry.example"},
        "likelyConsequences": "Names seen by one person.",
        "measures": "Link revoked.",
        "affectedPartners": [demo.partner.id],
        "confirmedAt": aware.isoformat(),
    }
    created = web.post(f"{api}/api/privacy/breaches", json=breach, headers=OPERATOR)
    assert created.status_code == 201, created.text

    sign_in(page, demo.owner)
    page.get_by_role("navigation").get_by_role("link", name="Privacy").click()
    page.get_by_role("link", name="Breaches").click()
    expect(page.get_by_role("heading", name="Personal-data breaches", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=nature)
    # Aware 60 hours ago: about 12 of the 72 hours are left.
    expect(row.get_by_text(re.compile(r"^1[12] h \d+ min left to notify$"))).to_be_visible()
    expect(row.get_by_text("about 3 people, 9 records")).to_be_visible()
    looked_at(page, "privacy-breaches")

    page.get_by_role("link", name="Record of processing").click()
    expect(page.get_by_role("heading", name="Record of processing", level=1)).to_be_visible()
    activities = page.get_by_role("table", name="Processing activities")
    expect(activities.get_by_role("columnheader", name="Legal basis")).to_be_visible()
    expect(activities.get_by_role("row").nth(1)).to_be_visible()
    transfers = page.get_by_role("table", name="Transfers outside the region")
    expect(transfers.get_by_role("row").filter(has_text="firebase").get_by_text("Approved")).to_be_visible()
    looked_at(page, "privacy-processing")

    page.get_by_role("link", name="Sub-processors").click()
    expect(page.get_by_role("heading", name="Sub-processors", level=1)).to_be_visible()
    expect(
        page.get_by_role("table", name="Sub-processors in region EU").get_by_role("row").nth(1)
    ).to_be_visible()
    looked_at(page, "privacy-subprocessors")

    page.get_by_role("link", name="Settings and data").click()
    expect(page.get_by_role("heading", name="Privacy settings and your data", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Withdraw approval")).to_be_visible()
    looked_at(page, "privacy-settings")


def test_the_owner_answers_a_complaint_and_adds_to_a_correspondence(page: Page, demo: Demo) -> None:
    partner = demo.partner
    suffix = uuid.uuid4().hex[:6]
    complaint = web.post(
        f"{partner.url}/complaints",
        headers=partner.bearer(),
        json={"contact": {"name": "Jan de Vries"}, "subject": f"Slow answers {suffix}", "channel": "phone"},
    )
    assert complaint.status_code == 201, complaint.text
    thread = web.post(
        f"{partner.url}/correspondence",
        headers=partner.bearer(),
        json={
            "contact": {"name": "Anna Jansen", "email": "anna@fabrikam.example"},
            "topic": f"Contract renewal {suffix}",
            "firstMessage": {"direction": "inbound", "body": "Can we talk about the renewal?"},
        },
    )
    assert thread.status_code == 201, thread.text

    sign_in(page, demo.owner)
    page.get_by_role("navigation").get_by_role("link", name="Complaints and correspondence").click()
    expect(page.get_by_role("heading", name="Complaints", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=f"Slow answers {suffix}")
    expect(row.get_by_text(re.compile(r"· 28 days left$"))).to_be_visible()
    looked_at(page, "records-complaints")

    row.get_by_role("link", name=f"Slow answers {suffix}").click()
    expect(page.get_by_role("heading", name=f"Slow answers {suffix}", level=1)).to_be_visible()
    page.get_by_role("button", name="Record answer").click()
    answer = page.get_by_role("dialog", name="Record the answer")
    answer.get_by_label("What was answered").fill("Called back and apologised.")
    answer.get_by_role("button", name="Record answer").click()
    expect(page.get_by_text("Answer recorded.")).to_be_visible()
    expect(page.get_by_text("Answered", exact=True).first).to_be_visible()
    looked_at(page, "records-complaint")
    answered = web.get(f"{partner.url}/complaints/{complaint.json()['id']}", headers=partner.bearer()).json()
    assert answered["status"] == "answered" and answered["answer"] == "Called back and apologised."

    page.get_by_role("link", name="Back to all complaints").click()
    page.get_by_role("link", name="Correspondence", exact=True).click()
    expect(page.get_by_role("heading", name="Correspondence", level=1)).to_be_visible()
    looked_at(page, "records-correspondence")
    page.get_by_role("link", name=f"Contract renewal {suffix}").click()
    expect(page.get_by_text("Can we talk about the renewal?")).to_be_visible()
    page.get_by_role("textbox", name="Message", exact=True).fill("Yes: Tuesday at ten.")
    page.get_by_role("button", name="Add message").click()
    expect(page.get_by_text("Yes: Tuesday at ten.")).to_be_visible()
    looked_at(page, "records-thread")
    held = web.get(f"{partner.url}/correspondence/{thread.json()['id']}", headers=partner.bearer()).json()
    assert [m["body"] for m in held["items"]] == ["Can we talk about the renewal?", "Yes: Tuesday at ten."]
