"""A tenant's end users and groups in the browser: find a user, block their sign-in, reset their password."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator, Page, expect

from localdev.stack import wait_until
from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web

if TYPE_CHECKING:
    from localdev.graph_standin import StandinControl


def looked_at(page: Page, name: str, heading: str, ready: Callable[[], Locator]) -> None:
    """What every page gets: a screenshot, axe, and a walk through it with Tab.

    The page is opened afresh at its address first (the search parameters keep the tab, user or
    group): a click earlier in the test would otherwise be where Chromium starts the Tab walk."""
    page.reload()
    expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()
    expect(ready()).to_be_visible()  # what the page read from the API is there, not its spinner
    screenshot(page, name)
    check_accessibility(page)
    check_keyboard(page)


def synced_tenant(demo: Demo) -> str:
    """The id of the demo tenant the owner works in, once its first sync has stored its users."""
    partner = demo.partner
    tenants = web.get(f"{partner.url}/tenants", headers=partner.as_key).json()["items"]
    tenant_id: str = next(t["id"] for t in tenants if t["displayName"] == demo.tenant)

    def synced() -> bool:
        tenant = web.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json()
        return bool(tenant.get("lastSync") and tenant["lastSync"]["state"] == "succeeded")

    wait_until(synced, timeout=90, what="the demo tenant's first sync")
    return tenant_id


def test_the_owner_finds_a_user_blocks_their_sign_in_and_resets_their_password(
    page: Page, demo: Demo, control: StandinControl
) -> None:
    tenant_id = synced_tenant(demo)
    users: list[dict[str, Any]] = web.get(
        f"{demo.partner.url}/tenants/{tenant_id}/users", headers=demo.partner.as_key
    ).json()["items"]
    user = next(u for u in users if u["accountEnabled"])
    name = user["displayName"]
    # Part of their name that another user of the tenant does not have, typed in lower case.
    part = next(
        word.lower()
        for word in name.split()
        if not any(word.lower() in u["displayName"].lower() for u in users if u["id"] != user["id"])
    )
    others = [u["displayName"] for u in users if part not in u["displayName"].lower()]
    assert control.user_state(tenant_id, user["id"])["user"]["accountEnabled"] is True

    sign_in(page, demo.owner)
    page.get_by_role("link", name=demo.tenant, exact=True).click()
    page.get_by_role("tab", name="Users", exact=True).click()
    listed = page.get_by_role("table", name="Users")
    expect(listed.get_by_role("link", name=others[0], exact=True)).to_be_visible()
    looked_at(
        page, "tenant-users-list", "Users", lambda: listed.get_by_role("link", name=others[0], exact=True)
    )

    # The API's text search: only the user whose name has the typed part stays.
    page.get_by_label("Search by name, UPN or mail").fill(part)
    expect(listed.get_by_role("link", name=others[0], exact=True)).to_have_count(0)
    expect(listed.get_by_role("row")).to_have_count(2)  # the header and the one user
    listed.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=user["userPrincipalName"]).first).to_be_visible()
    looked_at(page, "tenant-user", name, lambda: page.get_by_role("button", name="Block sign-in", exact=True))

    # Blocking sign-in asks first, naming the user; Graph then has the account disabled.
    page.get_by_role("button", name="Block sign-in", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Block sign-in for {name}?")).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text(f"Sign-in is blocked for {name}.")).to_be_visible()
    expect(page.get_by_role("button", name="Allow sign-in", exact=True)).to_be_visible()
    assert control.user_state(tenant_id, user["id"])["user"]["accountEnabled"] is False
    stored = web.get(
        f"{demo.partner.url}/tenants/{tenant_id}/users/{user['id']}", headers=demo.partner.as_key
    )
    assert stored.json()["accountEnabled"] is False

    # A password reset shows the one-time password once, to copy; after a reload it is nowhere.
    page.get_by_role("button", name="Reset password", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Reset the password of {name}?")).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    shown = page.get_by_label(f"One-time password for {name}")
    expect(shown).to_have_value(re.compile(r"^\S{16,}$"))
    password = shown.input_value()
    expect(page.get_by_role("button", name="Copy", exact=True)).to_be_visible()
    served = [(r["method"], r["path"], r["status"]) for r in control.requests(tenant_id)]
    assert ("PATCH", f"users/{user['id']}", 204) in served
    page.reload()
    expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()
    expect(page.get_by_label(f"One-time password for {name}")).to_have_count(0)
    assert password not in page.content()

    page.get_by_role("link", name="Back to users").click()
    expect(page.get_by_role("heading", name="Users", level=2)).to_be_visible()


def test_the_owner_opens_a_group_and_sees_its_members_by_name(page: Page, demo: Demo) -> None:
    tenant_id = synced_tenant(demo)
    groups = web.get(f"{demo.partner.url}/tenants/{tenant_id}/groups", headers=demo.partner.as_key).json()[
        "items"
    ]
    group = max(groups, key=lambda g: g["memberCount"])
    member_id = web.get(
        f"{demo.partner.url}/tenants/{tenant_id}/groups/{group['id']}", headers=demo.partner.as_key
    ).json()["members"][0]
    member = web.get(
        f"{demo.partner.url}/tenants/{tenant_id}/users/{member_id}", headers=demo.partner.as_key
    ).json()

    sign_in(page, demo.owner)
    page.get_by_role("link", name=demo.tenant, exact=True).click()
    page.get_by_role("tab", name="Groups", exact=True).click()
    listed = page.get_by_role("table", name="Groups")
    expect(listed.get_by_role("link", name=group["displayName"], exact=True)).to_be_visible()
    looked_at(
        page,
        "tenant-groups-list",
        "Groups",
        lambda: listed.get_by_role("link", name=group["displayName"], exact=True),
    )

    listed.get_by_role("link", name=group["displayName"], exact=True).click()
    expect(page.get_by_role("heading", name=group["displayName"], level=2)).to_be_visible()
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("link", name=member["displayName"], exact=True)).to_be_visible()
    expect(members.get_by_role("button", name=f"Remove {member['displayName']}")).to_be_visible()
    looked_at(
        page,
        "tenant-group",
        group["displayName"],
        lambda: members.get_by_role("link", name=member["displayName"], exact=True),
    )

    # A member's name opens them on the Users tab.
    members.get_by_role("link", name=member["displayName"], exact=True).click()
    expect(page.get_by_role("heading", name=member["displayName"], level=2)).to_be_visible()
    expect(page.get_by_role("tab", name="Users", exact=True)).to_have_attribute("aria-selected", "true")


def test_the_owner_sets_the_template_creates_a_user_groups_them_and_offboards_them(
    page: Page, demo: Demo, control: StandinControl
) -> None:
    partner = demo.partner
    tenant_id = synced_tenant(demo)
    tenant = f"{partner.url}/tenants/{tenant_id}"
    users = web.get(f"{tenant}/users", headers=partner.as_key).json()["items"]
    domain = users[0]["userPrincipalName"].split("@", 1)[1]
    groups = web.get(f"{tenant}/groups", headers=partner.as_key).json()["items"]
    group = next(g for g in groups if "DynamicMembership" not in g["groupTypes"])
    colleague = next(u for u in users if u["accountEnabled"])
    suffix = uuid.uuid4().hex[:6]
    name = f"Nora Leaver {suffix}"

    sign_in(page, demo.owner)
    page.get_by_role("link", name=demo.tenant, exact=True).click()
    page.get_by_role("tab", name="Users", exact=True).click()

    # The template: a licence with a free seat, its usage location, and a group picked by name.
    page.get_by_role("button", name="New-user template").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("This tenant has no template yet.", exact=False)).to_be_visible()
    dialog.get_by_role("checkbox", name=re.compile(r"\(\d+ free\)")).first.check()
    dialog.get_by_role("button", name="Save template").click()
    expect(dialog.get_by_text("Licences need a usage location.")).to_be_visible()
    dialog.get_by_label("Usage location").fill("nl")
    dialog.get_by_label("Add a group").press_sequentially(group["displayName"][:6])
    page.get_by_role("option", name=group["displayName"], exact=True).click()
    expect(dialog.get_by_role("button", name=f"Remove {group['displayName']}")).to_be_visible()
    dialog.get_by_role("button", name="Save template").click()
    expect(dialog).to_have_count(0)
    template = web.get(f"{tenant}/user-template", headers=partner.as_key).json()
    assert template["groups"] == [group["id"]] and template["usageLocation"] == "NL"
    assert len(template["licences"]) == 1

    # A new user from it: the one-time password is shown in the dialog, once.
    page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Display name").fill(name)
    dialog.get_by_label("User principal name").fill("not an address")
    dialog.get_by_role("button", name="Create user").click()
    expect(dialog.get_by_text("A name, @ and one of the tenant's domains", exact=False)).to_be_visible()
    dialog.get_by_label("User principal name").fill(f"nora.{suffix}@{domain}")
    dialog.get_by_role("button", name="Create user").click()
    expect(
        dialog.get_by_text(f"{name} was created with 1 licence(s) and 1 group(s)", exact=False)
    ).to_be_visible()
    expect(dialog.get_by_label(f"One-time password for {name}")).to_have_value(re.compile(r"^\S{16,}$"))
    dialog.get_by_role("button", name="Open the new user").click()
    expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()
    created = web.get(f"{tenant}/users", headers=partner.as_key, params={"search": suffix}).json()["items"]
    user_id = created[0]["id"]
    assert user_id in web.get(f"{tenant}/groups/{group['id']}", headers=partner.as_key).json()["members"]

    # Offboarding: asked by name, with an automatic reply and a OneDrive colleague picked by search;
    # the page follows it to its end and lists what is left to do by hand.
    page.get_by_role("button", name="Offboard…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Offboard {name}?")).to_be_visible()
    dialog.get_by_role("switch", name="Set an automatic reply on their mailbox").check()
    dialog.get_by_label("Reply to colleagues").fill("Nora has left; please write to the office.")
    dialog.get_by_label("Hand their OneDrive over to").press_sequentially(colleague["displayName"])
    page.get_by_role("option", name=colleague["displayName"]).click()
    dialog.get_by_role("button", name=f"Offboard {name}").click()
    status = page.get_by_role("status").filter(has_text=re.compile("Finished|Failed"))
    expect(status.get_by_text("Finished", exact=True)).to_be_visible()
    steps = page.get_by_role("table", name="Offboarding steps")
    expect(steps.get_by_role("row", name=re.compile("Block sign-in.*Done"))).to_be_visible()
    expect(steps.get_by_role("row", name=re.compile("Remove licences.*Done"))).to_be_visible()
    assert control.user_state(tenant_id, user_id)["user"]["accountEnabled"] is False
    looked_at(page, "tenant-user-offboarded", name, lambda: steps)
