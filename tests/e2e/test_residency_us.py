"""Residency through the deployed composition: after a `us` partner's whole life on the local host
(tenant proven and synced, org proven, devices, a push, data-subject requests, events), every
table row, blob and queue message of every storage account is read back, and the partner's data is
found in the `us` account only, plus the routing rows of the control account the design allows."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from shared.storage.router import AccountStorage, StorageRouter
from tests.e2e.actors import PartnerSetup, add_proven_tenant, carry_out_request, make_partner
from tests.e2e.dataverse import add_rule, completed, context_for, post_webhook, register_device, register_org

http = httpx.Client(timeout=60)

# The control account's routing rows (partner id -> region, tenant claims, org claims): ids and a
# region, nothing personal (design.md, "Regions and storage"; catalogue placement CONTROL).
CONTROL_TABLES = {"partnerdirectory", "tenantclaims", "orgdirectory", "orgpending"}
# What a routing row may say besides its keys: never a name, address or anything about a person.
ROUTING_FIELDS = {"PartitionKey", "RowKey", "region", "partnerId", "via", "claimedAt"}


def _texts_of(account: AccountStorage) -> Iterable[tuple[str, str, str, dict[str, Any] | None]]:
    """(kind, name, text, row) for every table row, blob and queue message of one account."""
    tables = account.table_service()
    for table in tables.list_tables():
        for row in tables.get_table_client(table.name).list_entities():
            yield "table", table.name, json.dumps(dict(row), default=str), dict(row)
    blobs = account.blob_service()
    for container in blobs.list_containers():
        client = blobs.get_container_client(container.name)
        for blob in client.list_blobs():
            content = client.download_blob(blob.name).readall()
            yield "container", container.name, blob.name + "\n" + content.decode("utf-8", "replace"), None
    queues = account.queue_service()
    for queue in queues.list_queues():
        for message in queues.get_queue_client(queue.name).peek_messages(max_messages=32):
            text = str(message.content)
            with contextlib.suppress(ValueError):  # messages are base64, as the queue trigger expects
                text += "\n" + base64.b64decode(text, validate=True).decode("utf-8", "replace")
            yield "queue", queue.name, text, None


@pytest.fixture(scope="module")
def us_partner_life(api: str, control: StandinControl) -> tuple[PartnerSetup, list[str]]:
    """A `us` partner after a full life; returns it and the ids that name its data."""
    partner = make_partner(api, "us")
    tenant_id = add_proven_tenant(partner, control, users=6)

    def synced() -> bool:
        last = http.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json().get("lastSync")
        return bool(last and last["state"] == "succeeded")

    wait_until(synced, timeout=60, what="the tenant's first sync")
    users = http.get(f"{partner.url}/tenants/{tenant_id}/users?top=10", headers=partner.as_key).json()[
        "items"
    ]
    assert users

    org = register_org(partner, tenantId=tenant_id)
    add_rule(partner, org["id"], recipients={"type": "everyone"})
    system_users = [str(uuid.uuid4()), str(uuid.uuid4())]
    devices = [register_device(partner, org, user, f"token-{uuid.uuid4().hex}") for user in system_users]
    accepted = post_webhook(api, org, context_for(org["id"]))
    assert accepted.status_code == 202, accepted.text
    notification_id = accepted.json()["notificationIds"][0]
    assert completed(partner, org["id"], notification_id)["sent"] == 2

    access = carry_out_request(
        partner,
        {"type": "access", "subject": {"email": users[0]["userPrincipalName"]}, "tenantId": tenant_id},
    )
    link = http.get(f"{partner.url}/privacy/requests/{access['id']}/export", headers=partner.as_key)
    assert link.status_code == 200, link.text
    restriction = carry_out_request(
        partner, {"type": "restriction", "subject": {"systemUserId": system_users[0]}, "orgId": org["id"]}
    )
    events = http.get(f"{partner.url}/events?top=200", headers=partner.as_key).json()["items"]
    assert len(events) > 5
    ids = [
        partner.id,
        partner.entra_tenant_id,
        partner.owner_object_id,
        tenant_id,
        org["id"],
        notification_id,
        access["id"],
        restriction["id"],
        *system_users,
        *(d["id"] for d in devices),
        *(u["id"] for u in users),
    ]
    return partner, [i.lower() for i in ids]


def _found(router: StorageRouter, ids: list[str]) -> dict[str, list[tuple[str, str, dict[str, Any] | None]]]:
    found: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {}
    for account in router.accounts():
        hits = found.setdefault(account.label, [])
        for kind, name, text, row in _texts_of(account):
            if any(i in text.lower() for i in ids):
                hits.append((kind, name, row))
    return found


def test_a_us_partners_data_is_only_in_the_us_account_and_its_routing_rows(
    us_partner_life: tuple[PartnerSetup, list[str]], router: StorageRouter
) -> None:
    _, ids = us_partner_life
    found = _found(router, ids)
    assert set(found) == {"control", "eu", "us"}

    in_eu = sorted({(kind, name) for kind, name, _ in found["eu"]})
    assert in_eu == [], f"a us partner's data in the eu account: {in_eu}"

    places = {(kind, name) for kind, name, _ in found["us"]}
    for table in (
        "partners",
        "personnel",
        "apikeys",
        "tenants",
        "tenantusers",
        "orgs",
        "orgusers",
        "devices",
    ):
        assert ("table", table) in places, f"expected the us account to hold {table}"
    for table in ("notifications", "notifydeliveries", "privacyrequests", "subjectflags"):
        assert ("table", table) in places, f"expected the us account to hold {table}"
    assert any(kind == "table" and name.startswith("events") for kind, name in places)
    assert ("container", "privacyexports") in places and ("container", "tenantsnapshots") in places

    outside = [
        (kind, name) for kind, name, _ in found["control"] if kind != "table" or name not in CONTROL_TABLES
    ]
    assert outside == [], f"a us partner's data in the control account beyond routing rows: {outside}"
    control_tables = {name for _, name, _ in found["control"]}
    assert {"partnerdirectory", "tenantclaims", "orgdirectory"} <= control_tables
    for _, name, row in found["control"]:
        assert row is not None
        extra = set(row) - ROUTING_FIELDS
        assert not extra, f"control row of {name} says more than routing: {sorted(extra)}"
        assert row.get("region", "us") == "us", f"control row of {name} routes elsewhere: {row}"
