"""The tenants area in a browser: onboarding a tenant GDAP proves, its first sync, its tabs, tenant groups."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web

if TYPE_CHECKING:
    from localdev.graph_standin import StandinControl


def looked_at(page: Page, name: str) -> None:
    """What every page of the area gets: a screenshot, axe, and a walk through it with Tab."""
    screenshot(page, name)
    check_accessibility(page)
    # Chromium starts a Tab walk where the last click was; a click on the page's bare corner starts it
    # at the top again, so the walk covers the whole page after navigating by clicks.
    page.evaluate("() => window.scrollTo(0, 0)")
    page.mouse.click(0, 0)
    check_keyboard(page)


@pytest.fixture(scope="module")
def customer(demo: Demo, control: StandinControl) -> str:
    """A customer tenant in the Graph stand-in with an active GDAP relationship to the demo partner,
    whose own Entra tenant is connected (the demo's tenants were proven that way): not added yet."""
    from localdev.proving import grant_gdap

    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 5)
    grant_gdap(control, demo.partner.entra_tenant_id, tenant_id)
    return tenant_id


def test_the_owner_onboards_a_tenant_gdap_proves_and_watches_its_first_sync(
    page: Page, demo: Demo, customer: str
) -> None:
    name = f"Tailspin {uuid.uuid4().hex[:6]}"
    sign_in(page, demo.owner)
    looked_at(page, "tenants-list")

    page.get_by_role("link", name="Add tenant").click()
    expect(page.get_by_role("heading", name="Add a tenant", level=1)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Connected since"))).to_be_visible()
    looked_at(page, "tenant-onboarding")

    # The form says what is wrong before anything is sent.
    page.get_by_role("button", name="Add tenant", exact=True).click()
    expect(page.get_by_text("Fill this in.")).to_have_count(2)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Tenant id").fill("not-a-guid")
    expect(page.get_by_text("A tenant id is a GUID")).to_be_visible()
    page.get_by_label("Tenant id").fill(customer.upper())
    page.get_by_role("button", name="Add tenant", exact=True).click()

    # GDAP proves it at once, and its first sync is followed on the tenant's page until it ends.
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_text("Tenant added.")).to_be_visible()
    access = page.get_by_role("region", name="Access")
    expect(access.get_by_text("Proven", exact=True)).to_be_visible()
    expect(access.get_by_text("GDAP relationship", exact=True).first).to_be_visible()
    sync = page.get_by_role("status").filter(has_text="Onboarding")
    expect(sync.get_by_text("Succeeded", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Syncs of this tenant").get_by_text("Succeeded")).to_be_visible()
    looked_at(page, "tenant-overview")

    # Sync now: a manual sync, followed until it ends.
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_text("Sync started.")).to_be_visible()
    manual = page.get_by_role("status").filter(has_text="Manual")
    expect(manual.get_by_text("Succeeded", exact=True)).to_be_visible()

    page.get_by_role("tab", name="Configuration and drift").click()
    expect(page.get_by_role("heading", name="Current configuration", level=2)).to_be_visible()
    expect(page.get_by_role("table", name="Licences in the tenant")).to_be_visible()
    timeline = page.get_by_role("table", name="Configuration snapshots, newest first")
    expect(timeline.get_by_role("row")).to_have_count(3)  # the header, the manual sync's, the first's
    timeline.get_by_role("button", name="What changed").last.click()
    expect(timeline.get_by_text("The first snapshot: nothing to compare it with.")).to_be_visible()
    timeline.get_by_role("button", name="What changed").first.click()
    expect(timeline.get_by_text("Nothing changed since the snapshot before it.")).to_be_visible()
    looked_at(page, "tenant-configuration")

    page.get_by_role("tab", name="Baseline").click()
    expect(page.get_by_role("heading", name="Baseline results", level=2)).to_be_visible()
    expect(page.get_by_role("table", name="Baseline checks")).to_be_visible()
    looked_at(page, "tenant-baseline")

    for tab in ("Users", "Groups"):  # their content is test_tenant_users.py's
        page.get_by_role("tab", name=tab, exact=True).click()
        expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")
        looked_at(page, f"tenant-{tab.lower()}")

    # Removing asks first, naming the tenant; the list then no longer has it.
    page.get_by_role("tab", name="Overview").click()
    page.get_by_role("button", name="Remove tenant").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Remove {name}?")).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Tenants", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=demo.tenant)).to_be_visible()
    expect(page.get_by_role("link", name=name)).to_have_count(0)
    gone = web.get(f"{demo.partner.url}/tenants/{customer}", headers=demo.partner.as_key)
    assert gone.status_code == 404, gone.text


def test_the_owner_groups_tenants_and_deletes_the_group(page: Page, demo: Demo) -> None:
    group = f"dutch-{uuid.uuid4().hex[:6]}"
    sign_in(page, demo.owner)
    page.get_by_role("link", name="Tenant groups").click()
    expect(page.get_by_role("heading", name="Tenant groups", level=1)).to_be_visible()
    looked_at(page, "tenant-groups")

    page.get_by_role("button", name="New tenant group").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("checkbox", name=demo.tenant)).to_be_visible()
    dialog.get_by_label("Name").fill("not a name!")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_text("Use letters, digits, - and _ only")).to_be_visible()
    dialog.get_by_label("Name").fill(group)
    dialog.get_by_role("checkbox", name=demo.tenant).check()
    screenshot(page, "tenant-group-dialog")
    check_accessibility(page)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)

    row = page.get_by_role("row").filter(has_text=group)
    expect(row.get_by_text("1 tenant", exact=True)).to_be_visible()
    saved = web.get(f"{demo.partner.url}/tenant-groups/{group}", headers=demo.partner.as_key)
    assert saved.status_code == 200, saved.text
    tenants = web.get(f"{demo.partner.url}/tenants", headers=demo.partner.as_key).json()["items"]
    assert saved.json()["tenantIds"] == [t["id"] for t in tenants if t["displayName"] == demo.tenant]

    row.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog")
    expect(confirm.get_by_text(f"Delete the tenant group {group}?")).to_be_visible()
    confirm.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("No tenant groups yet.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=group)).to_have_count(0)
    gone = web.get(f"{demo.partner.url}/tenant-groups/{group}", headers=demo.partner.as_key)
    assert gone.status_code == 404, gone.text
