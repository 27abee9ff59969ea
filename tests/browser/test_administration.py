"""Administration in the browser: API keys (secret shown once), personnel and tenant scopes, audit log."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web


def looked_at(page: Page, name: str) -> None:
    """What every page gets: a screenshot, axe, and a walk through it with Tab from its top."""
    screenshot(page, name)
    check_accessibility(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.mouse.click(0, 0)
    check_keyboard(page)


def test_the_owner_creates_an_api_key_and_sees_its_secret_only_once(page: Page, demo: Demo) -> None:
    name = f"PSA sync {uuid.uuid4().hex[:6]}"
    sign_in(page, demo.owner)
    page.get_by_role("link", name="API keys", exact=True).click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    looked_at(page, "api-keys")

    page.get_by_role("button", name="Create API key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(dialog.get_by_text("Fill this in.")).to_be_visible()  # checked before anything is sent
    dialog.get_by_label("Name").fill(name)
    check_accessibility(page)
    dialog.get_by_role("button", name="Create", exact=True).click()

    expect(dialog.get_by_text("it will not be shown again")).to_be_visible()
    secret_field = dialog.get_by_label(f"Secret of {name}")
    expect(secret_field).to_have_value(re.compile(r".{20,}"))
    secret = secret_field.input_value()
    expect(dialog.get_by_role("button", name="Copy")).to_be_visible()
    screenshot(page, "api-key-secret")
    check_accessibility(page)
    # The secret works: the API answers a call made with it.
    used = web.get(f"{demo.partner.url}/tenants", headers={"X-Api-Key": secret})
    assert used.status_code == 200, used.text
    dialog.get_by_role("button", name="Close").click()

    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_text("Active", exact=True)).to_be_visible()
    assert secret not in page.content()  # the list shows the key, never its secret
    listed = web.get(f"{demo.partner.url}/api-keys", headers=demo.partner.bearer()).json()["items"]
    assert [k["name"] for k in listed if k["name"] == name] == [name]


def test_the_owner_invites_a_person_scoped_to_one_tenant(page: Page, demo: Demo) -> None:
    suffix = uuid.uuid4().hex[:6]
    person = f"Pat {suffix}"
    object_id = str(uuid.uuid4())
    sign_in(page, demo.owner)
    page.get_by_role("link", name="Personnel", exact=True).click()
    expect(page.get_by_role("heading", name="Personnel", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="What each role may do", level=2)).to_be_visible()
    looked_at(page, "personnel")

    page.get_by_role("button", name="Invite a person").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Entra object id").fill("not-a-guid")
    dialog.get_by_role("button", name="Invite", exact=True).click()
    expect(dialog.get_by_text("An object id is a GUID")).to_be_visible()
    dialog.get_by_label("Entra object id").fill(object_id)
    dialog.get_by_label("Email").fill(f"pat-{suffix}@demo-msp.example")
    dialog.get_by_label("Display name").fill(person)
    dialog.get_by_label("Role").select_option("operator")
    dialog.get_by_role("radio", name=re.compile("Only the tenants")).check()
    dialog.get_by_role("checkbox", name=demo.tenant).check()
    screenshot(page, "personnel-invite")
    check_accessibility(page)
    dialog.get_by_role("button", name="Invite", exact=True).click()
    expect(dialog).to_have_count(0)

    row = page.get_by_role("row").filter(has_text=person)
    expect(row.get_by_text("Operator", exact=True)).to_be_visible()
    expect(row.get_by_text("1 tenant(s), 0 group(s)")).to_be_visible()
    people = web.get(f"{demo.partner.url}/personnel", headers=demo.partner.bearer()).json()["items"]
    invited = next(p for p in people if p["objectId"] == object_id)
    tenants = web.get(f"{demo.partner.url}/tenants", headers=demo.partner.as_key).json()["items"]
    assert invited["role"] == "operator"
    scoped = [t["id"] for t in tenants if t["displayName"] == demo.tenant]
    assert invited["tenantScope"]["tenantIds"] == scoped

    # Removing asks first; the person stays listed as removed.
    row.get_by_role("button", name="Remove").click()
    confirm = page.get_by_role("dialog")
    expect(confirm.get_by_text(f"Remove {person}?")).to_be_visible()
    confirm.get_by_role("button", name="Confirm").click()
    expect(row.get_by_text("Removed", exact=True)).to_be_visible()


def test_the_owner_reads_the_audit_log_and_verifies_its_chain(page: Page, demo: Demo) -> None:
    sign_in(page, demo.owner)
    page.get_by_role("link", name="Audit log", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    events = page.get_by_role("table", name="Audit events, newest first")
    expect(events.get_by_text("personnel.invited").first).to_be_visible()  # the demo's scoped person
    looked_at(page, "audit-log")

    # A filter narrows the list to one action.
    page.get_by_label("Action").fill("tenant.created")
    page.get_by_role("button", name="Apply filters").click()
    expect(events.get_by_text("personnel.invited")).to_have_count(0)
    expect(events.get_by_text("tenant.created").first).to_be_visible()

    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_text(re.compile(r"The audit log is intact: \d+ events checked"))).to_be_visible()
    screenshot(page, "audit-verified")

    page.get_by_role("link", name="API calls", exact=True).click()
    expect(page.get_by_role("heading", name="API calls", level=1)).to_be_visible()
    expect(page.get_by_role("table", name="API calls, newest first")).to_be_visible()
    looked_at(page, "audit-api-calls")

    page.get_by_role("link", name="Sign-ins", exact=True).click()
    expect(page.get_by_role("heading", name="Sign-ins", level=1)).to_be_visible()
    expect(page.get_by_role("table", name="Sign-ins and key uses, newest first")).to_be_visible()
    looked_at(page, "audit-sessions")
