"""The Dynamics 365 area in the browser: an organisation added, a rule made with its placeholders checked
as typed, a Dataverse delivery's notification counted, a device unsubscribed, and the mailing-list consent."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web import web


def looked_at(page: Page, name: str) -> None:
    """What every page of the area gets: a screenshot, axe, and a walk through it with Tab."""
    screenshot(page, name)
    check_accessibility(page)
    # Chromium starts a Tab walk where the last click was; a click on the page's bare corner starts it
    # at the top again, so the walk covers the whole page after navigating by clicks.
    page.evaluate("() => window.scrollTo(0, 0)")
    page.mouse.click(0, 0)
    check_keyboard(page)


def test_the_owner_adds_an_organisation_makes_a_rule_and_sees_a_dataverse_notification_counted(
    page: Page, demo: Demo, api: str
) -> None:
    from tests.e2e.dataverse import INITIATING_USER, completed, context_for, post_webhook, register_device

    name = f"Contoso Sales {uuid.uuid4().hex[:6]}"
    org_id = str(uuid.uuid4())
    tenant_id = str(uuid.uuid4())
    sign_in(page, demo.owner)
    page.get_by_role("navigation").get_by_role("link", name="Dynamics 365").click()
    expect(page.get_by_role("heading", name="Dynamics 365 organisations", level=1)).to_be_visible()
    looked_at(page, "dynamics-orgs")

    page.get_by_role("link", name="Add organisation").click()
    expect(page.get_by_role("heading", name="Add a Dynamics 365 organisation", level=1)).to_be_visible()
    looked_at(page, "dynamics-add-org")
    # The form says what is missing before anything is sent.
    page.get_by_role("button", name="Add organisation").click()
    expect(page.get_by_text("Fill this in.")).to_have_count(3)
    expect(page.get_by_text("A GUID: 8-4-4-4-12 hexadecimal digits.")).to_be_visible()
    page.get_by_label("Organisation id").fill(org_id)
    page.get_by_label(re.compile(r"^Name\W*$")).fill(name)
    page.get_by_label("Unique name").fill("contososales")
    page.get_by_label(re.compile(r"^Business\W*$")).fill("Contoso Ltd")
    page.get_by_label("Country").fill("nl")
    page.get_by_label("Customer's Entra tenant id").fill(tenant_id)
    page.get_by_role("button", name="Add organisation").click()

    # The keys, shown once, with where they go.
    expect(page.get_by_role("heading", name=f"{name} is registered", level=1)).to_be_visible()
    webhook_key = page.get_by_label("Webhook key", exact=True).input_value()
    device_key = page.get_by_label("Device-registration key").input_value()
    assert webhook_key and device_key
    expect(page.get_by_label("Webhook URL")).to_have_value(re.compile(rf"/api/dynamics/{org_id}/webhook$"))
    expect(page.get_by_text(re.compile(r"set Authentication to WebhookKey"))).to_be_visible()
    screenshot(page, "dynamics-org-keys")
    org: dict[str, Any] = {
        "id": org_id,
        "tenantId": tenant_id,
        "webhookKey": webhook_key,
        "deviceKey": device_key,
    }

    page.get_by_role("link", name="Open the organisation").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_text("Waiting for proof")).to_be_visible()
    # Dataverse's first delivery with the key proves the organisation (no rule yet: it notifies nobody).
    proof = post_webhook(api, org, context_for(org_id))
    assert proof.status_code == 202 and proof.json()["accepted"] == 0, proof.text
    page.reload()
    expect(page.get_by_text("Proven", exact=True)).to_be_visible()
    looked_at(page, "dynamics-org")

    # A leaked webhook key is replaced at once: the new one is shown once, the old one refused.
    page.get_by_label("Old key keeps working for (hours)").fill("0")
    page.get_by_role("button", name="Replace webhook key").click()
    confirm = page.get_by_role("dialog", name=f"Replace the webhook key of {name}?")
    confirm.get_by_role("button", name="Confirm").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_text("The old key no longer works.")).to_be_visible()
    new_key = page.get_by_label("Webhook key", exact=True).input_value()
    assert new_key and new_key != webhook_key
    assert post_webhook(api, org, context_for(org_id)).status_code == 401
    org["webhookKey"] = new_key

    page.get_by_role("tab", name="Users").click()
    expect(page.get_by_text(re.compile(r"^No system users yet"))).to_be_visible()
    page.get_by_role("button", name="Add or update a user").click()
    dialog = page.get_by_role("dialog", name="Add or update a system user")
    dialog.get_by_label("System user id").fill(INITIATING_USER)
    dialog.get_by_label("Name", exact=True).fill("Maria Campbell")
    dialog.get_by_role("button", name="Save user").click()
    users = page.get_by_role("table", name="System users")
    expect(users.get_by_role("row").filter(has_text="Maria Campbell")).to_contain_text(INITIATING_USER)
    looked_at(page, "dynamics-users")

    page.get_by_role("tab", name="Rules").click()
    expect(page.get_by_text(re.compile(r"^No rules yet"))).to_be_visible()
    page.get_by_role("link", name="New rule").click()
    expect(page.get_by_role("heading", name="New rule", level=1)).to_be_visible()
    page.get_by_label("Table").fill("contact")
    page.get_by_label("Message").fill("Update")
    # An unknown placeholder is flagged as it is typed, before anything is saved.
    page.get_by_role("textbox", name="Title").fill("{fullname} was updated by {$changedBy}")
    expect(page.get_by_text("{fullname} · attribute")).to_be_visible()
    expect(page.get_by_text("{$changedBy} · unknown")).to_be_visible()
    problem = re.compile(r"^Unknown placeholder \{\$changedBy\}: the built-ins are")
    expect(page.get_by_text(problem)).to_be_visible()
    page.get_by_role("textbox", name="Link").fill(
        "https://contoso.crm4.dynamics.com/main.aspx?etn={$entity}&id={$recordId}"
    )
    expect(page.get_by_text("{$recordId} · built-in")).to_be_visible()
    looked_at(page, "dynamics-rule-editor")
    page.get_by_role("textbox", name="Title").fill("{fullname} was updated")
    expect(page.get_by_text("{$changedBy} · unknown")).to_have_count(0)
    page.get_by_role("button", name="Create rule").click()

    expect(page.get_by_text("Rule saved.")).to_be_visible()
    rules = page.get_by_role("table", name="Notification rules")
    row = rules.get_by_role("row").filter(has_text="contact · Update")
    expect(row.get_by_text("{fullname} was updated")).to_be_visible()
    expect(row.get_by_text("The user who made the change")).to_be_visible()
    looked_at(page, "dynamics-rules")

    # The initiating user's browser registers for push; then Dataverse delivers the contact's update.
    register_device(demo.partner, org, INITIATING_USER, f"token-{uuid.uuid4().hex}")
    delivered = post_webhook(api, org, context_for(org_id))
    assert delivered.status_code == 202, delivered.text
    [notification_id] = delivered.json()["notificationIds"]
    view = completed(demo.partner, org_id, notification_id)
    assert (view["sent"], view["deviceCount"]) == (1, 1)

    page.get_by_role("tab", name="Notifications").click()
    table = page.get_by_role("table", name="Notifications")
    row = table.get_by_role("row").filter(has_text="contact · Update")
    expect(row.get_by_role("cell")).to_have_text(
        [re.compile(r"\d"), "contact · Update", "Users: 1", "Completed", "1", "1", "0", "0"]
    )
    looked_at(page, "dynamics-notifications")

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Notification: contact · Update", level=1)).to_be_visible()
    devices = page.get_by_role("table", name="Devices and their outcomes")
    device_row = devices.get_by_role("row").filter(has_text=INITIATING_USER)
    expect(device_row.get_by_text("Sent", exact=True)).to_be_visible()
    looked_at(page, "dynamics-notification")

    device_row.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("dialog", name="Unsubscribe this device?").get_by_role("button", name="Confirm").click()
    expect(device_row.get_by_text("Unsubscribed")).to_be_visible()

    # A notification the team sends to the user now reaches no device.
    page.get_by_role("link", name="Back to the notifications").click()
    page.get_by_role("button", name="Send notification").click()
    dialog = page.get_by_role("dialog", name="Send a notification")
    dialog.get_by_role("textbox", name="Title").fill("Case CAS-01234 assigned to you")
    dialog.get_by_label("System user ids").fill(INITIATING_USER)
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(dialog).to_be_hidden()
    listed = web.get(f"{demo.partner.url}/orgs/{org_id}/notifications", headers=demo.partner.as_key).json()
    [sent] = [n for n in listed["items"] if n["source"] == "partner"]
    assert completed(demo.partner, org_id, sent["id"])["deviceCount"] == 0
    page.reload()
    table = page.get_by_role("table", name="Notifications")
    row = table.get_by_role("row").filter(has_text="Sent by your team")
    expect(row.get_by_role("cell")).to_have_text(
        [re.compile(r"\d"), "Sent by your team", "Users: 1", "Completed", "0", "0", "0", "0"]
    )

    # Removing the organisation takes its key with it.
    page.get_by_role("tab", name="Details and keys").click()
    page.get_by_role("button", name="Remove organisation").click()
    page.get_by_role("dialog", name=f"Remove {name}?").get_by_role("button", name="Confirm").click()
    expect(page.get_by_text(f"{name} is removed.")).to_be_visible()
    page.get_by_role("link", name="Back to organisations").click()
    expect(page.get_by_role("heading", name="Dynamics 365 organisations", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=name)).to_have_count(0)
    assert post_webhook(api, org, context_for(org_id)).status_code == 401


def test_the_owner_reads_the_mailing_list_consent_and_clears_a_sent_message_from_the_outbox(
    page: Page, demo: Demo, api: str
) -> None:
    def subscribe(email: str) -> None:
        body = {"partnerId": demo.partner.id, "email": email, "purpose": "newsletter", "name": "Reader"}
        forwarded = {"x-forwarded-for": f"198.51.{uuid.uuid4().int % 250}.7"}
        assert web.post(f"{api}/api/consent/subscribe", json=body, headers=forwarded).status_code == 202

    def outbox(email: str) -> list[dict[str, Any]]:
        url = f"{demo.partner.url}/consent/outbox?top=1000"
        items = web.get(url, headers=demo.partner.as_key).json()["items"]
        return [item for item in items if item["email"] == email]

    confirmed = f"reader-{uuid.uuid4().hex[:8]}@fabrikam.example"
    waiting = f"reader-{uuid.uuid4().hex[:8]}@fabrikam.example"
    subscribe(confirmed)
    token = outbox(confirmed)[0]["confirmToken"]
    assert web.post(f"{api}/api/consent/confirm", json={"token": token}).status_code == 200
    subscribe(waiting)

    sign_in(page, demo.owner)
    page.get_by_role("navigation").get_by_role("link", name="Dynamics 365").click()
    page.get_by_role("link", name="Mailing-list consent").click()
    expect(page.get_by_role("heading", name="Mailing-list consent", level=1)).to_be_visible()
    contacts = page.get_by_role("table", name="Contacts")
    expect(contacts.get_by_role("row").filter(has_text=confirmed).get_by_text("Granted")).to_be_visible()
    expect(contacts.get_by_role("row").filter(has_text=waiting)).to_have_count(0)
    ledger = page.get_by_role("table", name="Consent ledger")
    expect(ledger.get_by_role("row").filter(has_text="newsletter").first).to_be_visible()
    looked_at(page, "dynamics-consent")

    message = page.get_by_role("table", name="Outbox").get_by_role("row").filter(has_text=waiting)
    expect(message.get_by_text("Confirm the subscription")).to_be_visible()
    message.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog", name=f"Remove the message to {waiting} from the outbox?").get_by_role(
        "button", name="Confirm"
    ).click()
    outbox_table = page.get_by_role("table", name="Outbox")
    expect(outbox_table.get_by_role("row").filter(has_text=waiting)).to_have_count(0)
    assert outbox(waiting) == []
