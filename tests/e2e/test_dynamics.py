"""Dynamics 365 push notifications end to end: the product app on the local host, Azurite, and
real firebase-admin talking to the FCM stand-in (conftest's session stand-in)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.e2e.actors import PartnerSetup, make_partner
from tests.e2e.dataverse import (
    INITIATING_USER,
    SAMPLE,
    add_rule,
    completed,
    context_for,
    device_call,
    notification,
    object_id_of,
    org_body,
    post_webhook,
    register_device,
    register_org,
    user_token,
)
from tests.stack import FCM
from tests.web import web


def test_an_org_is_registered_with_secrets_shown_once_then_read_changed_rotated_and_audited(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    assert org["webhookUrl"].endswith(f"/api/dynamics/{org['id']}/webhook")
    assert org["webhookKey"] and org["deviceKey"]
    again = web.post(f"{partner.url}/orgs", json=org_body(org["id"]), headers=partner.as_key)
    assert again.status_code == 409
    read = web.get(f"{partner.url}/orgs/{org['id']}", headers=partner.as_key).json()
    assert "webhookKey" not in read and "deviceKey" not in read
    assert org["webhookKey"] not in json.dumps(read)

    patched = web.patch(
        f"{partner.url}/orgs/{org['id']}",
        json={"name": "Contoso EU", "webhookAuth": {"type": "HttpHeader", "headerName": "x-tenantry-key"}},
        headers=partner.as_key,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["webhookAuth"] == {"type": "HttpHeader", "headerName": "x-tenantry-key"}
    # With HttpHeader the same key now rides in the header, and ?code= no longer counts.
    add_rule(partner, org["id"])
    assert post_webhook(api, org, context_for(org["id"])).status_code == 401
    by_header = post_webhook(
        api, org, context_for(org["id"]), code="", **{"x-tenantry-key": org["webhookKey"]}
    )
    assert by_header.status_code == 202, by_header.text

    # The replaced key keeps working through the stamp's grace window (24 h), shown on the org.
    rotated = web.post(f"{partner.url}/orgs/{org['id']}/webhook-key/rotate", headers=partner.as_key)
    assert rotated.status_code == 200
    new_key = rotated.json()["webhookKey"]
    until = rotated.json()["previousValidUntil"]
    assert until is not None
    shown = web.get(f"{partner.url}/orgs/{org['id']}", headers=partner.as_key).json()
    assert shown["previousWebhookKeyValidUntil"] == until
    for key in (org["webhookKey"], new_key):
        in_flight = post_webhook(api, org, context_for(org["id"]), code="", **{"x-tenantry-key": key})
        assert in_flight.status_code == 202, in_flight.text
    # With no grace (a leaked key), the replaced key stops at once.
    leaked = web.post(
        f"{partner.url}/orgs/{org['id']}/webhook-key/rotate", headers=partner.as_key, json={"overlapHours": 0}
    )
    assert leaked.status_code == 200 and leaked.json()["previousValidUntil"] is None
    for replaced in (org["webhookKey"], new_key):
        old = post_webhook(api, org, context_for(org["id"]), code="", **{"x-tenantry-key": replaced})
        assert old.status_code == 401
    new_key = leaked.json()["webhookKey"]
    new = post_webhook(api, org, context_for(org["id"]), code="", **{"x-tenantry-key": new_key})
    assert new.status_code == 202

    actions = [
        e["action"] for e in web.get(f"{partner.url}/events?top=100", headers=partner.as_key).json()["items"]
    ]
    assert {"org.registered", "org.updated", "org.webhook-key-rotated", "org.rule-created"} <= set(actions)


def test_system_users_are_upserted_in_bulk_and_paged(partner: PartnerSetup) -> None:
    org = register_org(partner)
    users = [
        {
            "systemUserId": str(uuid.uuid4()),
            "domainName": f"CONTOSO\\u{i}",
            "fullName": f"User {i}",
            "email": f"u{i}@contoso.example",
        }
        for i in range(150)
    ]
    url = f"{partner.url}/orgs/{org['id']}/users"
    assert web.put(url, json={"items": users}, headers=partner.as_key).json() == {"upserted": 150}
    users[0]["fullName"] = "Renamed"
    assert web.put(url, json={"items": users[:1]}, headers=partner.as_key).json() == {"upserted": 1}
    seen: list[dict[str, Any]] = []
    token = None
    while True:
        page = web.get(
            url,
            params={"top": 100, **({"continuationToken": token} if token else {})},
            headers=partner.as_key,
        ).json()
        seen.extend(page["items"])
        token = page["continuationToken"]
        if not token:
            break
    assert len(seen) == 150
    assert {u["systemUserId"]: u for u in seen}[users[0]["systemUserId"]]["fullName"] == "Renamed"


def test_rules_are_validated_at_save_time(partner: PartnerSetup) -> None:
    org = register_org(partner)
    url = f"{partner.url}/orgs/{org['id']}/rules"
    base = {
        "entity": "incident",
        "message": "Assign",
        "title": "Case {title}",
        "body": "x",
        "recipients": {"type": "owner"},
    }
    for bad in (
        {"title": "Case {$nope}"},
        {"body": "{Full Name}"},
        {"title": "oops {"},
        {"link": "http://x/{$recordId}"},
    ):
        response = web.post(url, json={**base, **bad}, headers=partner.as_key)
        assert response.status_code == 422, (bad, response.text)
    rule = web.post(url, json=base, headers=partner.as_key).json()
    assert web.get(f"{url}/{rule['id']}", headers=partner.as_key).json()["title"] == "Case {title}"
    replaced = web.put(
        f"{url}/{rule['id']}", json={**base, "title": "Case {ticketnumber}"}, headers=partner.as_key
    )
    assert replaced.status_code == 200 and replaced.json()["title"] == "Case {ticketnumber}"
    assert [r["id"] for r in web.get(url, headers=partner.as_key).json()["items"]] == [rule["id"]]
    assert web.delete(f"{url}/{rule['id']}", headers=partner.as_key).status_code == 204
    assert web.get(f"{url}/{rule['id']}", headers=partner.as_key).status_code == 404


# --- webhook -> fan-out -> device ------------------------------------------------------------------


def test_a_dataverse_update_notifies_the_initiating_users_devices_once_with_the_rendered_template(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    add_rule(partner, org["id"])
    token = f"token-{uuid.uuid4().hex}"
    other = f"token-{uuid.uuid4().hex}"
    device = register_device(partner, org, INITIATING_USER, token)
    register_device(partner, org, str(uuid.uuid4()), other)  # another user's device: not a recipient

    body = context_for(org["id"])
    first = post_webhook(api, org, body)
    assert first.status_code == 202, first.text
    again = post_webhook(api, org, body)  # Dataverse retrying the same delivery
    assert again.status_code == 202
    assert again.json()["notificationIds"] == first.json()["notificationIds"]
    assert again.json()["duplicate"] is True
    notification_id = first.json()["notificationIds"][0]

    view = completed(partner, org["id"], notification_id)
    assert (view["sent"], view["failed"], view["deviceCount"]) == (1, 0, 1)
    assert view["recipients"] == [INITIATING_USER]
    outcome = view["devices"][0]
    assert outcome["deviceId"] == device["id"] and outcome["state"] == "sent"
    assert outcome["messageId"].startswith("projects/")
    assert "title" not in view and "body" not in view and "Maria" not in json.dumps(view)

    delivered = FCM.state.deliveries_to("token", token)
    assert len(delivered) == 1
    message = delivered[0]["message"]
    assert message["notification"]["title"] == "Maria Campbell was updated"
    assert (
        message["notification"]["body"]
        == "Changed by b7e41c90-6c0e-ef11-9f89-000d3a3b1c2e on 2026-03-10T09:20:12Z"
    )
    assert message["webpush"]["fcm_options"]["link"].endswith(f"etn=contact&id={SAMPLE['PrimaryEntityId']}")
    assert message["data"]["notificationId"] == notification_id
    assert FCM.state.deliveries_to("token", other) == []

    ack = web.post(
        f"{api}/api/notifications/{notification_id}/delivered",
        json={},
        headers={"x-device-secret": device["deviceSecret"]},
    )
    assert ack.status_code == 200, ack.text
    assert notification(partner, org["id"], notification_id)["delivered"] == 1
    listed = web.get(f"{partner.url}/orgs/{org['id']}/notifications", headers=partner.as_key).json()
    assert [n["id"] for n in listed["items"]] == [notification_id]


def test_a_wrong_or_missing_webhook_key_is_refused_and_nothing_is_made(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    add_rule(partner, org["id"])
    for code in ("", "whk_wrong", org["deviceKey"]):
        response = post_webhook(api, org, context_for(org["id"]), code=code)
        assert response.status_code == 401, code
    unknown = web.post(
        f"{api}/api/dynamics/{uuid.uuid4()}/webhook", params={"code": org["webhookKey"]}, json=SAMPLE
    )
    assert unknown.status_code == 401
    listed = web.get(f"{partner.url}/orgs/{org['id']}/notifications", headers=partner.as_key).json()
    assert listed["items"] == []


def test_an_oversized_context_without_images_still_makes_a_notification_or_marks_it(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    add_rule(partner, org["id"], recipients={"type": "owner"}, title="Contact {$recordId} changed", body="")
    token = f"token-{uuid.uuid4().hex}"
    register_device(partner, org, INITIATING_USER, token)
    body = context_for(org["id"])
    for name in ("InputParameters", "PreEntityImages", "PostEntityImages", "ParentContext"):
        body.pop(name)
    response = post_webhook(api, org, body, **{"x-ms-dynamics-msg-size-exceeded": "true"})
    assert response.status_code == 202, response.text
    view = completed(partner, org["id"], response.json()["notificationIds"][0])
    # The owner is unknown without the record: kept, marked, sent to nobody.
    assert view["needsRecord"] is True and view["deviceCount"] == 0
    assert post_webhook(api, org, "not a context").status_code == 422
    assert post_webhook(api, org, context_for(str(uuid.uuid4()))).status_code == 422


# --- devices ------------------------------------------------------------------------------------------


def test_devices_register_idempotently_and_unsubscribe_at_once(api: str, partner: PartnerSetup) -> None:
    org = register_org(partner)
    token = f"token-{uuid.uuid4().hex}"
    first = register_device(partner, org, INITIATING_USER, token)
    second = register_device(partner, org, INITIATING_USER, token)
    assert first["id"] == second["id"]
    as_user = user_token(api, org["tenantId"], object_id_of(org, INITIATING_USER))
    bad_key = device_call(
        api, org, {"systemUserId": INITIATING_USER, "token": token}, as_user, key=org["webhookKey"]
    )
    assert bad_key.status_code == 401
    fid = device_call(api, org, {"systemUserId": INITIATING_USER, "fid": f"fid-{uuid.uuid4().hex}"}, as_user)
    assert fid.status_code == 201
    # The first secret was replaced by the second registration; the device's current one works.
    url = f"{api}/api/orgs/{org['id']}/devices/{first['id']}"
    assert web.delete(url, headers={"x-device-secret": first["deviceSecret"]}).status_code == 401
    assert web.delete(url, headers={"x-device-secret": second["deviceSecret"]}).status_code == 204
    assert web.delete(url, headers={"x-device-secret": second["deviceSecret"]}).status_code == 401
    # The partner may unsubscribe a device too (its own org only).
    stranger = make_partner(api, "us")
    fid_url = f"{api}/api/orgs/{org['id']}/devices/{fid.json()['id']}"
    assert web.delete(fid_url, headers=stranger.as_key).status_code == 404
    assert web.delete(fid_url, headers=partner.as_key).status_code == 204

    response = web.post(
        f"{partner.url}/orgs/{org['id']}/notifications",
        json={"recipients": [INITIATING_USER], "title": "Case assigned", "body": "CAS-01234"},
        headers=partner.as_key,
    )
    assert response.status_code == 202, response.text
    view = completed(partner, org["id"], response.json()["id"])
    assert view["deviceCount"] == 0
    assert FCM.state.deliveries_to("token", token) == []


def test_partner_notifications_reach_everyone_and_deleting_the_org_cascades(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    tokens = [f"token-{uuid.uuid4().hex}" for _ in range(3)]
    devices = [register_device(partner, org, str(uuid.uuid4()), t) for t in tokens]
    response = web.post(
        f"{partner.url}/orgs/{org['id']}/notifications",
        json={
            "everyone": True,
            "title": "Maintenance tonight",
            "body": "22:00-23:00",
            "data": {"kind": "ops"},
        },
        headers=partner.as_key,
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"].endswith(response.json()["id"])
    view = completed(partner, org["id"], response.json()["id"])
    assert (view["sent"], view["deviceCount"]) == (3, 3)
    assert all(len(FCM.state.deliveries_to("token", t)) == 1 for t in tokens)

    assert web.delete(f"{partner.url}/orgs/{org['id']}", headers=partner.as_key).status_code == 204
    assert web.get(f"{partner.url}/orgs/{org['id']}", headers=partner.as_key).status_code == 404
    assert web.get(f"{partner.url}/orgs/{org['id']}/notifications", headers=partner.as_key).status_code == 404
    assert post_webhook(api, org, context_for(org["id"])).status_code == 401
    ack = web.post(
        f"{api}/api/notifications/{view['id']}/delivered",
        json={},
        headers={"x-device-secret": devices[0]["deviceSecret"]},
    )
    assert ack.status_code == 401
    actions = [
        e["action"] for e in web.get(f"{partner.url}/events?top=100", headers=partner.as_key).json()["items"]
    ]
    assert "org.deleted" in actions
