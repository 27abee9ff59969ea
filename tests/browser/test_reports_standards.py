"""Reports and standards in the browser: a report across tenants, its CSV, an end user, a standard run."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web

# A run over a tenant goes through the queue; a wait, never an assertion about speed.
RUN_WAIT_MS = 120_000


@pytest.fixture(scope="module")
def synced(demo: Demo) -> list[dict[str, Any]]:
    """The demo's two tenants once their first syncs have succeeded (reports are kept at a sync)."""
    from localdev.stack import wait_until

    def both() -> list[dict[str, Any]] | None:
        tenants = web.get(f"{demo.partner.url}/tenants", headers=demo.partner.as_key).json()["items"]
        done = [t for t in tenants if (t.get("lastSync") or {}).get("state") == "succeeded"]
        return tenants if len(done) == len(tenants) == 2 else None

    tenants: list[dict[str, Any]] = wait_until(both, timeout=120, what="both tenants' first syncs")
    return tenants


def looked_at(page: Page, name: str) -> None:
    """What every page of the area gets: a screenshot, axe, and a walk through it with Tab."""
    screenshot(page, name)
    check_accessibility(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.mouse.click(0, 0)
    check_keyboard(page)


def test_the_owner_reads_a_report_of_both_tenants_exports_it_and_finds_an_end_user(
    page: Page, demo: Demo, synced: list[dict[str, Any]]
) -> None:
    rows = web.get(f"{demo.partner.url}/reports/mfaRegistration", headers=demo.partner.as_key).json()["items"]
    someone = next(row for row in rows if row.get("userPrincipalName"))
    sign_in(page, demo.owner)

    page.get_by_role("navigation").get_by_role("link", name="Reports and search").click()
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    table = page.get_by_role("table", name="MFA registration report")
    expect(table.get_by_role("link", name=demo.tenant).first).to_be_visible()
    expect(table.get_by_role("link", name=demo.other_tenant).first).to_be_visible()
    looked_at(page, "reports")

    with page.expect_download() as downloading:
        page.get_by_role("button", name="Export CSV").click()
    download = downloading.value
    assert download.suggested_filename == "mfaRegistration.csv"
    csv = download.path().read_text(encoding="utf-8")
    assert someone["userPrincipalName"] in csv

    # One tenant's report: only its rows.
    table.get_by_role("link", name=demo.tenant).first.click()
    expect(page.get_by_role("heading", name="Reports of one tenant", level=1)).to_be_visible()
    expect(page.get_by_text(f"Reports of tenant {demo.tenant}")).to_be_visible()
    looked_at(page, "reports-tenant")

    page.get_by_role("link", name="All tenants' reports").click()
    page.get_by_role("link", name="Find an end user").click()
    expect(page.get_by_role("heading", name="Find an end user", level=1)).to_be_visible()
    page.get_by_label("Starts with").fill(someone["userPrincipalName"])
    hits = page.get_by_role("table", name="End users found")
    hit = hits.get_by_role("row").filter(has_text=someone["userPrincipalName"])
    expect(hit).to_have_count(1)
    looked_at(page, "reports-end-user-search")
    tenant_name = next(t["displayName"] for t in synced if t["id"] == someone["tenantId"])
    hit.get_by_role("link", name=tenant_name).click()
    expect(page.get_by_role("heading", name=tenant_name, level=1)).to_be_visible()


def test_the_owner_creates_a_standard_assigns_it_runs_it_and_sees_the_result(
    page: Page, demo: Demo, synced: list[dict[str, Any]]
) -> None:
    catalogue = web.get(f"{demo.partner.url}/standard-settings", headers=demo.partner.as_key).json()["items"]
    setting = next(s for s in catalogue if s["id"] == "adminConsent.enabled")
    name = f"Contoso baseline {uuid.uuid4().hex[:6]}"
    sign_in(page, demo.owner)

    page.get_by_role("navigation").get_by_role("link", name="Standards").click()
    expect(page.get_by_role("heading", name="Standards", level=1)).to_be_visible()
    looked_at(page, "standards")

    page.get_by_role("link", name="Create standard").click()
    expect(page.get_by_role("heading", name="Create a standard", level=1)).to_be_visible()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Choose at least one setting.")).to_be_visible()
    page.get_by_label("Name").fill(name)
    page.get_by_label(f"Include {setting['title']}").check()
    page.get_by_label(f"Desired value of {setting['title']}").select_option("false")
    looked_at(page, "standard-new")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=f"Standard {name}", level=1)).to_be_visible()

    # Run it now in report mode over one tenant: its outcome per tenant.
    expect(page.get_by_text("Report: shows what differs from the standard")).to_be_visible()
    page.get_by_label("Tenant", exact=True).select_option(label=demo.tenant)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text("Checked 1 tenants.")).to_be_visible(timeout=RUN_WAIT_MS)
    results = page.get_by_role("table", name="Results per tenant")
    expect(results.get_by_role("link", name=demo.tenant)).to_be_visible()
    expect(results.get_by_text("checked")).to_be_visible()
    looked_at(page, "standard-edit")

    # Assign it to a tenant in report mode, run the assignment and follow the run to its end.
    page.get_by_role("group", name="Standards sections").get_by_role("link", name="Assignments").click()
    expect(page.get_by_role("heading", name="Standard assignments", level=1)).to_be_visible()
    page.get_by_role("button", name="Assign a standard").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Standard").select_option(label=name)
    dialog.get_by_label(demo.tenant).check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    table = page.get_by_role("table", name="Assignments")
    expect(table.get_by_role("link", name=name)).to_be_visible()
    looked_at(page, "standard-assignments")
    row = table.get_by_role("row").filter(has_text=name)
    row.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("heading", name="Standard run", level=1)).to_be_visible()
    expect(page.get_by_text("State: succeeded.")).to_be_visible(timeout=RUN_WAIT_MS)
    outcome = page.get_by_role("table", name="Results per tenant")
    expect(outcome.get_by_role("link", name=demo.tenant)).to_be_visible()
    expect(outcome.get_by_text("checked")).to_be_visible()
    looked_at(page, "standard-run")

    page.get_by_role("group", name="Standards sections").get_by_role("link", name="Compliance").click()
    expect(page.get_by_role("heading", name="Compliance", level=1)).to_be_visible()
    compliance = page.get_by_role("table", name="Compliance per tenant")
    expect(compliance.get_by_text(name).first).to_be_visible()
    looked_at(page, "standards-compliance")

    page.get_by_role("group", name="Standards sections").get_by_role("link", name="Baseline").click()
    expect(page.get_by_role("heading", name="Baseline", level=1)).to_be_visible()
    looked_at(page, "standards-baseline")
    page.get_by_role("table", name="Baseline per tenant").get_by_role("link", name=demo.tenant).click()
    expect(page.get_by_role("heading", name=f"Baseline of {demo.tenant}", level=1)).to_be_visible()
    looked_at(page, "standards-tenant-baseline")
